/* Configuration snapshots on the main thread: building one from a loaded configuration
 * (every TLS context, certificate set, policy and upstream TLS client loaded and
 * checked, nothing published), making one current, and the snapshots a reload replaced
 * that connections still use (docs/operations.md, "Live configuration").
 *
 * A snapshot that fails to build is refused as a whole: the error names the file (and,
 * for certgate.json itself, the JSON path), and what runs stays as it is. */
#ifndef CG_CONTROL_CONFIG_RELOAD_H
#define CG_CONTROL_CONFIG_RELOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "config/config.h"

struct policy;
struct runtime;
struct snapshot;

/* config_reload_build takes |cfg| over and builds the snapshot of generation
 * |generation| from it into |*out| (one reference): TLS contexts with their certificate
 * sets, every policy (validated for its listener), every upstream's TLS client. Each
 * listener keeps the counters of the listener of the same name (runtime's listener
 * names grow by the new ones, only on success). On failure nothing is left (|cfg| is
 * freed) and |err| says why. */
int config_reload_build(struct runtime *rt, struct config *cfg, uint64_t generation,
                        struct snapshot **out, struct cg_errbuf *err);

/* config_reload_load loads into |snap| (from snapshot_new) what config_reload_build
 * does. At start the snapshot is current already (the reloader notes its files before
 * they are loaded); on failure it holds what loaded, for snapshot_unref. */
int config_reload_load(struct runtime *rt, struct snapshot *snap, struct cg_errbuf *err);

/* config_reload_set_current makes |snap| (its reference moves in) the runtime's current
 * snapshot, and keeps the previous one among the retired while anything else holds it.
 * It does not tell the workers (worker_install). */
void config_reload_set_current(struct runtime *rt, struct snapshot *snap);

/* config_reload_num_live returns how many snapshots are in use: the current one and the
 * retired ones some connection still holds (a retired one nobody holds any more is
 * dropped here). */
size_t config_reload_num_live(struct runtime *rt);

/* config_reload_read_policy loads policy slot |slot| of |snap| from its file (checked
 * against the listener's client CA when it has one) and gives it the next policy
 * generation; the one loader for a snapshot being built and for a policy file that
 * changed. */
int config_reload_read_policy(struct runtime *rt, const struct snapshot *snap, size_t slot,
                              struct policy **out, struct cg_errbuf *err);

/* config_reload_publish_policy makes |p| the policy of every slot whose file is |file|
 * and whose listener validates it the same way (|client_ca|), in the current snapshot
 * and in every retired one still in use: connections opened before a configuration
 * reload see a policy change too (a revoked client is refused on them as well). Each
 * worker gets a message per slot. */
void config_reload_publish_policy(struct runtime *rt, const char *file, bool client_ca,
                                  struct policy *p);

/* config_reload_cleanup drops every retired snapshot and the current one. */
void config_reload_cleanup(struct runtime *rt);

#endif
