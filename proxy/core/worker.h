/* A worker thread: one event_base, its own SO_REUSEPORT listening sockets, its own
 * upstream pools; every connection it accepts lives and dies on it. What protocols and
 * upstream clients keep per worker (spare request states, HTTP/2 sessions) is theirs,
 * created and freed through the hooks of struct worker_module; the worker knows none
 * of them.
 *
 * Everything that depends on the configuration is kept per configuration snapshot
 * (struct worker_snapshot): a configuration reload installs a new one (worker_install),
 * new connections go to it, and the old one is freed when its last connection ends. */
#ifndef CG_PROXY_CORE_WORKER_H
#define CG_PROXY_CORE_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/listener.h>

struct runtime;
struct client_conn;
struct policy;
struct snapshot;
struct upstream_pool;
struct worker;
struct worker_snapshot;

/* struct worker_module is per-worker, per-snapshot state that a protocol or an upstream
 * client keeps (the runtime lists them: proxy/protocols.c). Hooks run on the worker's
 * thread, except the first snapshot's init, which runs before the worker's loop. */
struct worker_module {
    const char *name;
    /* init creates the module's state for |ws| (NULL is a valid state); its upstream
     * pools exist already. */
    void *(*init)(struct worker_snapshot *ws);
    /* trim gives memory the module keeps for reuse back, when the worker has been
     * releasing memory and goes quiet (see worker_memory_released). Optional. */
    void (*trim)(struct worker_snapshot *ws, void *state);
    /* cleanup frees the state once every connection of |ws| is gone, before its
     * upstream pools are freed. */
    void (*cleanup)(struct worker_snapshot *ws, void *state);
};

/* struct worker_snapshot is what a worker keeps for one configuration snapshot: the
 * upstream pools, the modules' state and the policies its connections use. The
 * connections accepted while it is current belong to it to their end. */
struct worker_snapshot {
    struct worker *w;
    struct snapshot *snap;        /* a reference */
    struct upstream_pool **pools; /* one per snap->cfg->upstreams, same order */
    void **module_states;         /* runtime->modules[i]'s state */
    struct policy **policies;     /* per snap->policy_slots: this worker's reference to the
                                     current policy (NULL: none, deny all); replaced by
                                     worker_set_policy messages */
    size_t num_conns;             /* its connections not freed yet */
    struct worker_snapshot *next; /* in worker->retiring */
};

struct worker_listen_socket {
    struct worker *w;
    struct evconnlistener *evl;
    int fd;
    size_t listener_index; /* in the current snapshot's listeners */
};

struct worker_msg;
struct worker_metrics;
struct evbuffer;

/* struct worker_scratch holds buffers used synchronously by one request at a time
 * (taking a decision, composing output): one set per worker instead of one per
 * connection keeps idle connections small. Nothing may keep a pointer into them
 * across a return to the event loop. */
struct worker_scratch {
    char *authz; /* authz_decide: normalized path, header values */
    size_t authz_cap;
    struct evbuffer *out; /* plaintext composed for tls_conn_write, which drains it: empty
                             whenever control is back in the event loop */
};

/* Spare request states (HTTP/1.1 exchanges, HTTP/2 streams) a worker keeps for the
 * next requests: enough that a busy worker does not allocate per request, few enough
 * that a burst does not pin its peak for ever (the same order as
 * limits.upstream_pool_max_idle). */
#define WORKER_MAX_SPARES 128

struct worker {
    struct runtime *rt;
    unsigned id;
    struct event_base *base;
    pthread_t thread;
    struct worker_listen_socket *socks;
    size_t num_socks;
    struct worker_snapshot *cur;      /* new connections belong to it */
    struct worker_snapshot *retiring; /* older ones with connections left */
    pthread_mutex_t snap_lock;        /* held by the worker while it changes |cur|,
                                         |retiring| or |metrics|' size, and by the main
                                         thread while it reads their counters */
    struct event *ev_retire;          /* frees retiring snapshots without connections */
    struct event *ev_conn_drain;      /* ends connections of removed listeners still open
                                         after timeouts.drain */
    struct client_conn *conns;    /* all open client connections (for drain) */
    size_t num_conns;
    bool draining;                   /* no more accepts; close when idle */
    struct event *ev_drain_deadline; /* drain timeout: close whatever is left */
    struct event *ev_trim;           /* malloc_trim once releases stop (see
                                        worker_memory_released) */
    struct event *ev_msg;            /* wakes the loop for queued messages */
    int msg_fd;                      /* eventfd behind ev_msg, written by worker_post */
    pthread_mutex_t msg_lock;
    struct worker_msg *msgs; /* FIFO of messages from the main thread */
    struct worker_msg **msgs_tail;
    struct worker_scratch scratch;
    struct worker_metrics *metrics; /* this worker's counters (proxy/core/metrics.h); the
                                       main thread reads them while the worker lives */
    uint64_t next_conn_id;
    uint64_t next_request_id;
};

/* Room for a request id with its NUL (instance 8 + worker 2 + counter 10..16 hex). */
#define WORKER_REQUEST_ID_SIZE 40

/* worker_request_id writes this worker's next request id, "%08x%02x%010" PRIx64 of the
 * server instance, the worker and its request counter, NUL-terminated. */
void worker_request_id(struct worker *w, char out[WORKER_REQUEST_ID_SIZE]);

/* worker_new creates worker |id| serving snapshot |snap| (a reference is taken, and
 * one to each of its policies) and listening on the already bound sockets |fds| (one
 * per entry of |listener_index|, an index in snap->listeners; ownership moves to the
 * worker). */
struct worker *worker_new(struct runtime *rt, struct snapshot *snap, unsigned id, const int *fds,
                          const size_t *listener_index, size_t num_fds);

/* worker_module_state returns the state module |m| keeps for |ws| (see struct
 * worker_module), or NULL when the runtime does not list |m|. */
void *worker_module_state(const struct worker_snapshot *ws, const struct worker_module *m);

/* worker_install_msg_new packages snapshot |snap| (a reference is taken, and one to each
 * of its slots' current policies) and the worker's complete set of listening sockets
 * under it, |fds| with |listener_index| (in snap->listeners), for worker_install.
 * Sockets the worker has already are recognised by descriptor; the new ones become
 * its own. */
void *worker_install_msg_new(struct snapshot *snap, const int *fds, const size_t *listener_index,
                             size_t num_fds);

/* worker_install (through worker_post, |arg| from worker_install_msg_new) makes the
 * snapshot current: new connections belong to it; the worker listens on exactly the
 * given sockets (closing the others: their address is not served any more); the
 * connections of listeners the snapshot no longer has drain (their requests in flight
 * finish, then they close, within timeouts.drain). The previous snapshot is freed once
 * its last connection ends. While the worker drains, the new sockets are closed. */
void worker_install(struct worker *w, void *arg);

/* worker_lock_snapshots / worker_unlock_snapshots hold |w|'s snapshots and counters
 * still (for the main thread reading w->cur, its pools, and w->metrics). */
void worker_lock_snapshots(struct worker *w);
void worker_unlock_snapshots(struct worker *w);

/* worker_start runs the worker's loop in a new thread. */
int worker_start(struct worker *w);

/* worker_join waits for the thread to end and closes whatever survived the drain
 * deadline. The worker's counters and pools stay readable (a scrape of the status
 * port may come until the process exits) until worker_free. */
void worker_join(struct worker *w);

/* worker_free frees a joined worker. NULL is a no-op. */
void worker_free(struct worker *w);

/* worker_post queues |fn|(w, arg) to run on the worker's thread. Thread-safe. */
void worker_post(struct worker *w, void (*fn)(struct worker *w, void *arg), void *arg);

/* worker_begin_drain (on the worker thread, through worker_post) stops accepting,
 * closes idle connections, lets requests in flight finish, and ends the loop when no
 * connection is left or after |drain_ms|. */
void worker_begin_drain(struct worker *w, void *arg);

/* worker_set_policy (through worker_post, |arg| from worker_policy_msg_new) makes a new
 * policy current for one policy slot of one configuration snapshot and drops the
 * worker's reference to the old one. Requests already decided keep what they copied;
 * the next request sees the new policy. A snapshot the worker has freed already is
 * skipped. */
void worker_set_policy(struct worker *w, void *arg);

/* worker_policy_msg_new packages |p| (a reference is taken) for policy slot |slot| of
 * snapshot |snap| (compared by address only: it may have been freed on arrival). */
void *worker_policy_msg_new(const struct snapshot *snap, size_t slot, struct policy *p);

/* worker_conn_opened counts a new connection of |ws| (conn_accept). */
void worker_conn_opened(struct worker_snapshot *ws);

/* worker_conn_closed is called by a connection of |ws| when it is freed, to keep
 * counts, free |ws| when it was the last of an old snapshot, and finish a drain. It
 * also counts as worker_memory_released. */
void worker_conn_closed(struct worker_snapshot *ws);

/* worker_memory_released tells the worker that buffers may just have been freed (a
 * connection closed, an HTTP/2 connection's last stream ended). Once none has been
 * released for WORKER_TRIM_DELAY_MS, the worker hands the process's free heap memory
 * back to the kernel (malloc_trim): glibc keeps freed memory for reuse (up to
 * M_TRIM_THRESHOLD at the top of each arena, all of it between live chunks), which is
 * what bulk transfers want while they run but pins the peak of a burst for ever. A
 * steady load keeps re-arming the delay and is never trimmed. */
void worker_memory_released(struct worker *w);

#define WORKER_TRIM_DELAY_MS 1000

#endif
