/* Live reload of policies and served certificates (docs/operations.md "Live reload"):
 * every policy slot (a listener's, each host entry's) and every certificate list (a
 * listener's, each host entry's own).
 *
 * Triggers: SIGHUP (everything is re-read), and inotify on the directories holding the
 * policy and certificate files. Watching directories rather than files catches editors
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

/* reloader_new notes the identity of |rt|'s policy and certificate files, for a
 * reloader on |base| (the main loop); call it before loading them. reloader_start
 * then watches them (inotify) and reloads at once what changed since reloader_new:
 * call it once they are loaded and certgate's own startup files are written, so that
 * a change made while certgate starts is neither missed nor seen twice. */
int reloader_new(struct runtime *rt, struct event_base *base, struct reloader **out,
                 struct cg_errbuf *err);

void reloader_start(struct reloader *r);

/* reloader_reload re-reads what changed on disk (|force|: everything, as on SIGHUP). */
void reloader_reload(struct reloader *r, bool force);

/* reloader_free stops watching. NULL is a no-op. */
void reloader_free(struct reloader *r);

/* reload_load_policy loads the file of policy slot |slot| (runtime->policy_slots: a
 * listener's or one of its host entries'), validated for its listener, and publishes it.
 * Returns 0 or the load error (nothing published). */
int reload_load_policy(struct runtime *rt, size_t slot, struct cg_errbuf *err);

/* reload_count_policy counts a reload of policy slot |slot| that took effect
 * (|ok|) or was refused, for /admin/status and the metrics. Main thread. */
void reload_count_policy(struct runtime *rt, size_t slot, bool ok);

#endif
