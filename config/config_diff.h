/* What differs between two configurations: what a reload would change (`certgate
 * check` against the running process) and what it did change (the reload's log lines).
 *
 * A pure function of two loaded configurations: nothing is read from disk. Listeners
 * and upstreams are matched by name, so renaming one is a removal and an addition;
 * scalar settings are compared through the key table (config/config_keys.h), so a new
 * key is compared by itself. Each change says whether a running process can apply it
 * (docs/operations.md, "Live configuration"): the worker count, state_dir, the access
 * log file and the admin and status addresses need a restart. */
#ifndef CG_CONFIG_CONFIG_DIFF_H
#define CG_CONFIG_CONFIG_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config/config.h"

/* enum config_change_kind is what happened to one item. */
enum config_change_kind {
    CONFIG_CHANGE_ADDED,   /* only in the new configuration */
    CONFIG_CHANGE_REMOVED, /* only in the old one */
    CONFIG_CHANGE_CHANGED, /* in both, with another value */
};

/* struct config_change is one item that differs. */
struct config_change {
    enum config_change_kind kind;
    char *what; /* where, as docs/configuration.md names it: "workers", "limits.max_headers",
                   "listeners.api", "listeners.api.listen", "upstreams.db.servers" */
    char *from; /* the old value as a file would spell it (lists bracketed, long ones cut
                   with "..."); "" for an added or removed listener or upstream */
    char *to;   /* the new value, the same way */
    bool live;  /* a running process applies it on reload; false: restart needed */
};

/* struct config_diff is every change, settings first, then listeners, then upstreams,
 * each in file order. An all-zero struct is an empty diff. */
struct config_diff {
    struct config_change *changes;
    size_t num_changes;
};

/* config_diff_compute fills |out| (empty before) with what differs from |old| to |new|.
 * Cannot fail; config_diff_cleanup frees it. */
void config_diff_compute(const struct config *old, const struct config *new,
                         struct config_diff *out);

/* config_diff_cleanup frees what |d| holds and leaves it empty. */
void config_diff_cleanup(struct config_diff *d);

/* config_diff_num_restart counts the changes a running process cannot apply. */
size_t config_diff_num_restart(const struct config_diff *d);

/* config_change_format writes |c| as one line without a newline, e.g. "changed:
 * limits.max_headers 100 -> 50", "added: listeners.extra", "changed: workers 2 -> 4
 * (restart needed)", into |buf| (cut to |len|). Returns |buf|. */
const char *config_change_format(const struct config_change *c, char *buf, size_t len);

/* config_diff_print writes one line per change to |out| with |indent| before each, or
 * |indent| and "no change" when there is none. */
void config_diff_print(const struct config_diff *d, const char *indent, FILE *out);

#endif
