/* The configuration a running certgate applies, in a file for `certgate check`
 * (docs/operations.md, "Live configuration"): "<state_dir>/running-config.json", written
 * atomically at start and after every reload that changed something, removed at exit.
 * It holds the process id, the configuration generation, the path of certgate.json and
 * the configuration as applied: a setting that needs a restart (workers, state_dir, ...)
 * holds the running value, not the file's, so `check` keeps reporting it until the
 * restart. Without state_dir there is no such file. */
#ifndef CG_CONTROL_RUNNING_CONFIG_H
#define CG_CONTROL_RUNNING_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "common/err.h"
#include "config/config.h"

#define RUNNING_CONFIG_FILE "running-config.json"

/* running_config_write writes the file for |cfg| (its state_dir; nothing without one):
 * |doc| is the configuration document applied, generation |generation|. */
int running_config_write(const struct config *cfg, const json_t *doc, uint64_t generation,
                         struct cg_errbuf *err);

/* running_config_remove removes the file of |cfg|'s state_dir when this process wrote it
 * (a newer process that took the sockets over keeps its own). */
void running_config_remove(const struct config *cfg);

/* running_config_compare prints to |out| what a reload of |cfg| would change in the
 * process running with |cfg|'s state_dir, and what would need a restart; or why it
 * cannot (no state_dir, no process running, an unreadable file). Returns 0, or 1 when
 * the running configuration could not be read (the file exists but is damaged). */
int running_config_compare(const struct config *cfg, FILE *out);

#endif
