#include "control/running_config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "config/config_diff.h"

/* The configuration is at most this long (it is certgate.json again). */
#define MAX_RUNNING_FILE (16 << 20)

static void path_of(const struct config *cfg, char *buf, size_t len)
{
    snprintf(buf, len, "%s/" RUNNING_CONFIG_FILE, cfg->state_dir);
}

int running_config_write(const struct config *cfg, const json_t *doc, uint64_t generation,
                         struct cg_errbuf *err)
{
    if (cfg->state_dir == NULL) {
        return CG_OK;
    }
    char path[PATH_MAX];
    path_of(cfg, path, sizeof(path));
    json_t *root = json_pack("{sI sI ss sO}", "pid", (json_int_t)getpid(), "generation",
                             (json_int_t)generation, "config_file", cfg->source, "config", doc);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    int rc = cg_file_write_atomic(path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

/* read_file reads and checks the file; returns its root, or NULL with |err| set (errno
 * ENOENT kept in |*out_missing|). */
static json_t *read_file(const char *path, bool *out_missing, struct cg_errbuf *err)
{
    char *text;
    size_t len;
    *out_missing = false;
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        *out_missing = true;
        return NULL;
    }
    if (cg_file_read(path, MAX_RUNNING_FILE, &text, &len, err) != CG_OK) {
        return NULL;
    }
    json_t *root = NULL;
    int rc = cg_json_load_str(path, text, len, &root, err);
    free(text);
    if (rc != CG_OK) {
        return NULL;
    }
    if (!json_is_integer(json_object_get(root, "pid")) ||
        !json_is_string(json_object_get(root, "config_file")) ||
        !json_is_object(json_object_get(root, "config"))) {
        cg_errf(err, CG_ERR_INVALID, "%s: not a running configuration", path);
        json_decref(root);
        return NULL;
    }
    return root;
}

void running_config_remove(const struct config *cfg)
{
    if (cfg->state_dir == NULL) {
        return;
    }
    char path[PATH_MAX];
    path_of(cfg, path, sizeof(path));
    bool missing;
    struct cg_errbuf err = {0};
    json_t *root = read_file(path, &missing, &err);
    if (root != NULL && json_integer_value(json_object_get(root, "pid")) == (json_int_t)getpid()) {
        unlink(path);
    }
    json_decref(root);
}

/* alive reports whether process |pid| exists (EPERM: it does, as another user). */
static bool alive(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

int running_config_compare(const struct config *cfg, FILE *out)
{
    if (cfg->state_dir == NULL) {
        fprintf(out, "reload: no state_dir: a running certgate does not record its "
                     "configuration, nothing to compare with\n");
        return 0;
    }
    char path[PATH_MAX];
    path_of(cfg, path, sizeof(path));
    bool missing;
    struct cg_errbuf err = {0};
    json_t *root = read_file(path, &missing, &err);
    if (missing) {
        fprintf(out, "reload: no certgate runs with state_dir %s (no %s)\n", cfg->state_dir,
                RUNNING_CONFIG_FILE);
        return 0;
    }
    if (root == NULL) {
        fprintf(stderr, "certgate: %s\n", err.msg);
        return 1;
    }
    pid_t pid = (pid_t)json_integer_value(json_object_get(root, "pid"));
    if (!alive(pid)) {
        fprintf(out, "reload: no certgate runs with state_dir %s (pid %ld in %s is gone)\n",
                cfg->state_dir, (long)pid, path);
        json_decref(root);
        return 0;
    }
    const char *source = json_string_value(json_object_get(root, "config_file"));
    char *text = json_dumps(json_object_get(root, "config"), JSON_COMPACT);
    char *base = cg_xstrdup(source);
    char *slash = strrchr(base, '/');
    if (slash == base) {
        slash[1] = '\0';
    } else if (slash != NULL) {
        *slash = '\0';
    }
    struct config *running = NULL;
    int rc = config_load_string(source, text, strlen(text), base, &running, &err);
    free(text);
    free(base);
    if (rc != CG_OK) {
        fprintf(stderr, "certgate: the running configuration in %s: %s\n", path, err.msg);
        json_decref(root);
        return 1;
    }
    struct config_diff d = {0};
    config_diff_compute(running, cfg, &d);
    fprintf(out, "reload: compared with pid %ld (%s, configuration generation %" PRId64 "):\n",
            (long)pid, source, (int64_t)json_integer_value(json_object_get(root, "generation")));
    config_diff_print(&d, "  ", out);
    size_t restart = config_diff_num_restart(&d);
    if (restart > 0) {
        fprintf(out, "  %zu change%s need%s a restart; a reload applies the rest\n", restart,
                restart == 1 ? "" : "s", restart == 1 ? "s" : "");
    }
    config_diff_cleanup(&d);
    config_free(running);
    json_decref(root);
    return 0;
}
