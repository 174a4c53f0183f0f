/* The certgate process on the main thread: binds the listen addresses, builds the
 * runtime (proxy/core/runtime.h) with its per-listener TLS contexts and policies,
 * starts the workers, the reloader, the renewer and the admin API, and handles
 * signals until a graceful drain ends. */
#ifndef CG_CONTROL_PROCESS_H
#define CG_CONTROL_PROCESS_H

#include <stdbool.h>

#include "config/config.h"

/* struct process_options is how `certgate run` was asked to start. */
struct process_options {
    bool upgrade;       /* --upgrade: take the listening sockets over from the certgate
                           running on these addresses (control/upgrade.h) */
    char *const *argv;  /* the command line, NULL-terminated: SIGUSR2 runs it again with
                           --upgrade. NULL: SIGUSR2 is refused */
};

/* process_run starts workers for |cfg| (ownership moves to the runtime), serves until
 * SIGTERM/SIGINT (then timeouts.shutdown_delay and a graceful drain) or until a new
 * process has taken over, and returns the process exit status: 0, or 1 when it could not
 * start (nothing to take over, an address in use, a bad certificate). */
int process_run(struct config *cfg, const struct process_options *opts);

/* process_check validates what `certgate check` validates beyond the config loader:
 * certificates and keys load and match, client CAs load. Prints a summary to stdout,
 * then what a reload would change in the certgate running with the same state_dir
 * (control/running_config.h); returns 0 or 1. */
int process_check(const struct config *cfg);

#endif
