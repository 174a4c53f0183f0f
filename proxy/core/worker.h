/* A worker thread: one event_base, its own SO_REUSEPORT listening sockets, its own
 * upstream pools; every connection it accepts lives and dies on it. What protocols and
 * upstream clients keep per worker (spare request states, HTTP/2 sessions) is theirs,
 * created and freed through the hooks of struct worker_module; the worker knows none
 * of them. */
#ifndef CG_PROXY_CORE_WORKER_H
#define CG_PROXY_CORE_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/listener.h>

struct runtime;
struct client_conn;
struct upstream_pool;
struct worker;

/* struct worker_module is per-worker state that a protocol or an upstream client keeps
 * (the runtime lists them: proxy/protocols.c). Hooks run on the worker's thread. */
struct worker_module {
    const char *name;
    /* init creates the module's state for |w| before its loop runs (NULL is a valid
     * state); upstream pools exist already. */
    void *(*init)(struct worker *w);
    /* trim gives memory the module keeps for reuse back, when the worker has been
     * releasing memory and goes quiet (see worker_memory_released). Optional. */
    void (*trim)(struct worker *w, void *state);
    /* cleanup frees the state once every connection of |w| is gone, before the
     * upstream pools are freed. */
    void (*cleanup)(struct worker *w, void *state);
};

struct worker_listen_socket {
    struct worker *w;
    struct evconnlistener *evl;
    size_t listener_index; /* in server->listeners */
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
    struct upstream_pool **pools; /* one per config upstream, same order */
    void **module_states;         /* runtime->modules[i]'s state for this worker */
    struct policy **policies;     /* per policy slot (runtime->policy_slots): this
                                     worker's reference to the current snapshot (NULL:
                                     no policy, deny all); replaced by
                                     worker_set_policy messages */
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

/* worker_new creates worker |id| listening on the already bound sockets |fds| (one per
 * entry of |listener_index|; ownership moves to the worker). */
struct worker *worker_new(struct runtime *rt, unsigned id, const int *fds,
                          const size_t *listener_index, size_t num_fds);

/* worker_module_state returns the state module |m| keeps for |w| (see struct
 * worker_module), or NULL when the runtime does not list |m|. */
void *worker_module_state(const struct worker *w, const struct worker_module *m);

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
 * policy snapshot current for one policy slot and drops the worker's reference to the
 * old one. Requests already decided keep what they copied; the next request sees the
 * new snapshot. */
void worker_set_policy(struct worker *w, void *arg);

/* worker_policy_msg_new packages |p| (a reference is taken) for policy slot |slot|. */
void *worker_policy_msg_new(size_t slot, struct policy *p);

/* worker_conn_closed is called by a connection when it is freed, to keep counts and
 * finish a drain. It also counts as worker_memory_released. */
void worker_conn_closed(struct worker *w);

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
