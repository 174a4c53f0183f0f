/* The certgate process on the main thread: binds the listen addresses, builds the
 * runtime (proxy/core/runtime.h) with its per-listener TLS contexts and policies,
 * starts the workers, the reloader, the renewer and the admin API, and handles
 * signals until a graceful drain ends. */
#ifndef CG_CONTROL_PROCESS_H
#define CG_CONTROL_PROCESS_H

#include "config/config.h"

/* process_run starts workers for |cfg| (ownership moves to the runtime), serves until
 * SIGTERM/SIGINT and a graceful drain, and returns the process exit status. */
int process_run(struct config *cfg);

/* process_check validates what `certgate check` validates beyond the config loader:
 * certificates and keys load and match, client CAs load. Prints a summary to stdout;
 * returns 0 or 1. */
int process_check(const struct config *cfg);

#endif
