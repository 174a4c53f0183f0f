/* The virtual hosts of a listener at run time: which host entry a connection belongs
 * to (by its SNI), whether a request's Host names that same entry, and which upstream a
 * request's path goes to (docs/configuration.md, "listeners[].hosts").
 *
 * A struct host_table is immutable and reference counted. The main thread builds one per
 * listener from its configuration; a connection takes a reference when it is accepted
 * and decides every request against that table until it closes. A later table (built by
 * a configuration reload) therefore never changes the host entry, upstreams or policy
 * slot of a connection already open: publishing one is swapping the listener's pointer
 * and dropping the old reference. A table points into the configuration it was built
 * from, which must outlive it.
 *
 * Policies are not in the table: they are reloaded on their own, more often. Each entry
 * names a policy slot, and every worker holds its own reference to the current snapshot
 * of every slot (proxy/core/worker.h). */
#ifndef CG_PROXY_CORE_HOST_TABLE_H
#define CG_PROXY_CORE_HOST_TABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/str.h"
#include "config/config.h"

/* struct host_entry is one host entry of a listener, or the listener's default. */
struct host_entry {
    const char *name;              /* its first name; "" for the listener's default */
    const struct config_host *cfg; /* NULL for the listener's default */
    const char *policy_file;       /* absolute path; NULL: none (every request denied) */
    size_t policy_slot;            /* its policy in runtime->policy_slots and in every
                                      worker's policies */
    size_t upstream_index;         /* in config->upstreams, for paths no prefix routes */
};

struct host_table {
    atomic_int refs;
    const struct config_listener *cfg;
    struct host_entry *entries;   /* one per cfg->hosts, same order, then the default */
    size_t num_entries;           /* cfg->num_hosts, + 1 with a default */
    const struct host_entry *def; /* the listener's own upstream and policy, the last of
                                     |entries|; NULL when it has no upstream of its own */
};

/* host_table_new builds the table of listener |l| with one reference. Its entries take
 * the policy slots |first_slot|, |first_slot| + 1, ... in the order of |entries|. */
struct host_table *host_table_new(const struct config_listener *l, size_t first_slot);

/* host_table_ref takes one more reference to |t| and returns it; host_table_unref drops
 * one, the last frees the table (NULL is a no-op). Thread-safe. */
struct host_table *host_table_ref(struct host_table *t);
void host_table_unref(struct host_table *t);

/* host_table_for_sni returns the entry a connection with server name |sni| ("" when the
 * client sent none) belongs to: the host entry the name selects (exact name first, then
 * the wildcard covering its first label), else the listener's default; NULL when there is
 * none (its requests are answered 421). */
const struct host_entry *host_table_for_sni(const struct host_table *t, const char *sni);

/* host_table_misdirected reports whether a request whose Host (or :authority) is
 * |authority| must not be served on a connection of entry |e| (not NULL) because the
 * authority names another virtual host: on a host entry, any authority that does not
 * select that same entry (another entry's name, a name no entry has, an IP literal); on
 * the default, an authority that selects a host entry. An empty authority never does.
 * The default's own rule, that Host equals the SNI when the client sent one, is the
 * policy's (policy_decide). The port, IPv6 brackets and one trailing dot are not part of
 * the name. */
bool host_table_misdirected(const struct host_table *t, const struct host_entry *e,
                            struct cg_str authority);

/* host_entry_upstream returns the upstream (index in config->upstreams) for a request of
 * entry |e| with the normalized path |path|: the upstream of the longest of the entry's
 * path prefixes that |path| starts with on a segment boundary (it equals the prefix, the
 * prefix ends in '/', or the next byte of |path| is '/'), else the entry's own. Letters
 * compare as the policy's routes do: |case_sensitive| or not. */
size_t host_entry_upstream(const struct host_entry *e, struct cg_str path, bool case_sensitive);

#endif
