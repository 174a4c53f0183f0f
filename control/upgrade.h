/* Binary upgrade: a new certgate process takes the listening sockets over from the
 * running one, so that no connection is refused while the old one drains
 * (docs/operations.md, "Binary upgrade").
 *
 * The new process (`certgate run --upgrade`) connects to the claim of one of its listen
 * addresses (control/listen.h), where the running certgate accepts on its main loop.
 * Both ends check with SO_PEERCRED that the other runs as the same user: the claim is
 * an abstract Unix socket, which file permissions cannot protect. The old process then
 * sends every socket it serves on (the workers' SO_REUSEPORT sockets, the admin API's,
 * the status port's, the claims) over SCM_RIGHTS, one per message. The new process serves on those of its
 * own addresses, closes the others, binds what is new, starts its workers and says
 * TAKEN; only then does the old process stop accepting and drain, and answer BYE. Until
 * TAKEN the old process changes nothing, so a new process that fails (a bad
 * configuration, a crash) leaves it serving as before. A socket shared by both processes
 * keeps its accept queue: connections wait there for whichever process accepts first,
 * and none is refused.
 *
 * SIGUSR2 makes a running certgate start the new process itself (upgrade_spawn), with
 * its own command line and --upgrade: the way to upgrade under a service manager,
 * which only accepts a new main process that the service started. */
#ifndef CG_CONTROL_UPGRADE_H
#define CG_CONTROL_UPGRADE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include <event2/event.h>

#include "common/err.h"
#include "config/config.h"

/* How long one side waits for the other's next message (and the new process for the
 * old one to accept its connection). */
#define UPGRADE_TIMEOUT_MS 10000

/* enum upgrade_socket_kind says what a handed-over socket is. */
enum upgrade_socket_kind {
    UPGRADE_SOCKET_LISTEN = 1, /* a worker's SO_REUSEPORT listening socket */
    UPGRADE_SOCKET_ADMIN = 2,  /* the admin API's listening socket */
    UPGRADE_SOCKET_CLAIM = 3,  /* the claim of a listen address (listen_claim) */
    UPGRADE_SOCKET_STATUS = 4, /* the status port's listening socket */
};

/* struct upgrade_socket is one socket a process serves on, as offered to or received
 * from the other process. */
struct upgrade_socket {
    enum upgrade_socket_kind kind;
    int fd; /* -1 once taken (receiving side) */
};

/* ---- the running process ------------------------------------------------------------ */

struct upgrade_server;

/* What the running process did with an upgrade request it received (the metric
 * certgate_upgrade_requests_total, docs/operations.md). */
enum upgrade_result {
    UPGRADE_HANDED_OVER = 0, /* the new process took the sockets over: this one drains */
    UPGRADE_ABANDONED,       /* the new process did not finish (went silent, closed, broke
                                the protocol, or this process began to stop): serving on */
    UPGRADE_REFUSED,         /* another user, another upgrade in progress, shutting down */
    UPGRADE_NUM_RESULTS
};

/* upgrade_result_str returns the metric label of |r| ("handed_over"); static storage. */
const char *upgrade_result_str(enum upgrade_result r);

/* upgrade_taken_fn is called on the main loop once the new process |pid| serves on the
 * sockets: the old process stops accepting and drains. The BYE that tells the new
 * process so is sent right after it returns. */
typedef void (*upgrade_taken_fn)(void *arg, pid_t pid);

/* upgrade_server_new accepts upgrade requests on the claim sockets |claims| (listening,
 * from listen_claim; the caller keeps them) from |base|, and offers |socks| (borrowed:
 * they must stay valid and open while the server exists). One request is served at a
 * time; requests from another user are refused and logged. Each request's outcome is
 * added to |counts| (UPGRADE_NUM_RESULTS counters indexed by enum upgrade_result,
 * borrowed like |socks|). */
struct upgrade_server *upgrade_server_new(struct event_base *base, const int *claims,
                                          size_t num_claims, const struct upgrade_socket *socks,
                                          size_t num_socks, upgrade_taken_fn on_taken, void *arg,
                                          atomic_uint_fast64_t *counts);

/* upgrade_server_refuse_all makes the server refuse every further request with |why|
 * (the process is shutting down), and abandons one in progress. NULL is a no-op. */
void upgrade_server_refuse_all(struct upgrade_server *s, const char *why);

/* upgrade_server_free stops accepting requests and drops one in progress. NULL is a
 * no-op. */
void upgrade_server_free(struct upgrade_server *s);

/* upgrade_spawn runs the command line |argv| again (argv[0] looked up in PATH when it
 * has no '/', as a shell would) followed by --upgrade (once, whether or not argv has
 * it), with default signal dispositions, an empty signal mask and no descriptor but 0,
 * 1 and 2, and returns its pid in |*out|. Fails with CG_ERR_IO. */
int upgrade_spawn(char *const *argv, pid_t *out, struct cg_errbuf *err);

/* ---- the new process ---------------------------------------------------------------- */

/* struct upgrade_client is what the running certgate handed over. */
struct upgrade_client {
    int fd;        /* the connection to the old process */
    pid_t old_pid; /* from SO_PEERCRED */
    struct upgrade_socket *socks;
    size_t num_socks;
};

/* upgrade_client_connect finds the certgate holding a listen address of |cfg|, and
 * receives its sockets. Fails with one line in |err|: CG_ERR_NOT_FOUND when no certgate
 * holds any of them (nothing to take over), CG_ERR_INVALID when the holder cannot hand
 * over, runs as another user or refuses (it is shutting down, or another upgrade is in
 * progress), CG_ERR_IO when it does not answer within UPGRADE_TIMEOUT_MS or the
 * connection fails. On success free |*out| with upgrade_client_free. */
int upgrade_client_connect(const struct config *cfg, struct upgrade_client **out,
                           struct cg_errbuf *err);

/* upgrade_client_take returns a received socket of |kind| serving |a| (or the claim of
 * |a|), which the caller now owns, or -1 when none is left. */
int upgrade_client_take(struct upgrade_client *c, enum upgrade_socket_kind kind,
                        const struct config_address *a);

/* upgrade_client_commit tells the old process that this one serves (TAKEN) and waits for
 * its BYE: from then on the old process drains. Fails with CG_ERR_IO when the old process
 * does not confirm within UPGRADE_TIMEOUT_MS; it then keeps serving, and this process
 * must stop. */
int upgrade_client_commit(struct upgrade_client *c, struct cg_errbuf *err);

/* upgrade_client_free closes the connection and every socket nobody took (addresses the
 * new configuration no longer has). NULL is a no-op. */
void upgrade_client_free(struct upgrade_client *c);

#endif
