/* Live reload of certgate.json, policies and served certificates (docs/operations.md
 * "Live reload" and "Live configuration"): every policy slot (a listener's, each host
 * entry's) and every certificate list (a listener's, each host entry's own) of the
 * current configuration snapshot, and the configuration file itself, whose reload is the
 * caller's (reloader_config_fn: a new snapshot).
 *
 * Triggers: SIGHUP (everything is re-read), and inotify on the directories holding the
 * configuration, policy and certificate files. Watching directories rather than files catches editors
 * that save by rename and Kubernetes, which swaps a "..data" symlink; events are
 * debounced, and a file is reloaded only when what stat() sees through the symlinks
 * (device, inode, size, mtime) changed.
 *
 * New snapshots are built and validated on the main thread, then published: policies
 * to every worker through messages, certificate sets through tls_server_set_certs. A
 * file that fails validation is refused with one log line and a counter; what was in
 * force stays in force. Nothing here ever closes a connection. */
#ifndef CG_CONTROL_RELOAD_H
#define CG_CONTROL_RELOAD_H

#include <stdbool.h>

#include <event2/event.h>

#include "common/err.h"

struct runtime;
struct reloader;
struct snapshot;

/* What a configuration reload did (reloader_config_fn). */
enum reloader_config_result {
    RELOADER_CONFIG_UNCHANGED, /* the file holds what runs: policies and certificates are
                                  re-read as usual */
    RELOADER_CONFIG_REFUSED,   /* invalid: what runs stays, policies and certificates
                                  are re-read as usual */
    RELOADER_CONFIG_PUBLISHED, /* a new snapshot runs, with every file loaded anew */
};

/* reloader_config_fn reloads certgate.json (the main loop's business) and says what
 * happened; a published snapshot calls reloader_rebuild before returning. */
typedef enum reloader_config_result (*reloader_config_fn)(void *arg);

/* reloader_new notes the identity of the current snapshot's policy and certificate
 * files and of certgate.json, for a reloader on |base| (the main loop); call it before
 * loading them. |on_config| (with |arg|) reloads certgate.json when it changes or on
 * reloader_reload(force); NULL: the configuration file is not reloaded. reloader_start
 * then watches them (inotify) and reloads at once what changed since reloader_new:
 * call it once they are loaded and certgate's own startup files are written, so that
 * a change made while certgate starts is neither missed nor seen twice. */
int reloader_new(struct runtime *rt, struct event_base *base, reloader_config_fn on_config,
                 void *arg, struct reloader **out, struct cg_errbuf *err);

void reloader_start(struct reloader *r);

/* reloader_rebuild notes and watches the files of the runtime's current snapshot
 * instead of the previous one's (after a configuration reload published one). */
void reloader_rebuild(struct reloader *r);

/* reloader_reload re-reads what changed on disk (|force|: everything, as on SIGHUP):
 * certgate.json first; when it published a new snapshot, nothing else is left. */
void reloader_reload(struct reloader *r, bool force);

/* reloader_free stops watching. NULL is a no-op. */
void reloader_free(struct reloader *r);

/* reload_load_policy loads the file of policy slot |slot| of snapshot |snap| (a
 * listener's or one of its host entries'), validated for its listener, and publishes it
 * to every slot of every snapshot in use that has the same file and validation
 * (config_reload_publish_policy). Returns 0 or the load error (nothing published). */
int reload_load_policy(struct runtime *rt, struct snapshot *snap, size_t slot,
                       struct cg_errbuf *err);

/* reload_count_policy counts a reload of policy slot |slot| of |snap| that took effect
 * (|ok|) or was refused, for /admin/status and the metrics. Main thread. */
void reload_count_policy(struct runtime *rt, struct snapshot *snap, size_t slot, bool ok);

#endif
