/* certgate cert import / list / edit / delete: the policy file's certificate registry
 * from the command line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/mem.h"
#include "pki/cli_internal.h"
#include "pki/import.h"
#include "pki/registry.h"

/* check_exists fails unless the policy file |path| exists. */
static int check_exists(const char *path, struct cg_errbuf *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return cg_errf(err, CG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    return CG_OK;
}

/* load_existing loads a policy file that must already exist. */
static int load_existing(const char *path, json_t **out, struct cg_errbuf *err)
{
    int rc = check_exists(path, err);
    return rc != CG_OK ? rc : pki_registry_load(path, out, err);
}

/* lock_and_load_existing takes the registry lock of a policy file that must already
 * exist (checked first, so that a mistyped path leaves no lock file behind), then loads
 * it; the caller unlocks |*out_fd| on every path. */
static int lock_and_load_existing(const char *path, int *out_fd, json_t **out,
                                  struct cg_errbuf *err)
{
    int rc = check_exists(path, err);
    if (rc == CG_OK) {
        rc = pki_registry_lock(path, out_fd, err);
    }
    return rc != CG_OK ? rc : pki_registry_load(path, out, err);
}

int cli_cert_import(const struct cli_opts *o)
{
    if (o->name == NULL) {
        return cli_usage(o, "missing --name NAME");
    }
    if (o->clearance == NULL) {
        return cli_usage(o, "missing --clearance (ClusterAdmin, Operator or ValidUser)");
    }
    if (o->policy == NULL) {
        return cli_usage(o, "missing --policy FILE");
    }
    struct cg_errbuf err = {{0}};
    struct pki_db_grant grants[CLI_MAX_ARGS];
    if (pki_clearance_check(o->clearance, &err) != CG_OK ||
        cli_parse_grants(o, grants, &err) != CG_OK) {
        return cli_fail(&err);
    }
    struct pki_import imp = {0};
    json_t *policy = NULL;
    int lock_fd = -1;
    int rc = CLI_FAIL;
    if (pki_import_file(o->positional[0], o->password, &imp, &err) != CG_OK) {
        return cli_fail(&err);
    }
    X509 *ids[PKI_IMPORT_MAX_CERTS];
    size_t num_ids = pki_import_identities(&imp, ids);
    struct pki_entry_spec spec = {.name = o->name, .clearance = o->clearance, .dbs = grants,
                                  .num_dbs = o->num_dbs, .set_dbs = true};
    if (pki_registry_lock(o->policy, &lock_fd, &err) != CG_OK ||
        pki_registry_load(o->policy, &policy, &err) != CG_OK ||
        pki_registry_add(policy, &spec, ids, num_ids, &err) != CG_OK ||
        pki_registry_save(o->policy, policy, &err) != CG_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    json_t *entries = pki_registry_entries(policy);
    json_t *entry = json_array_get(entries, json_array_size(entries) - 1);
    json_t *tps = json_object_get(entry, "thumbprints");
    printf("registered '%s' as %s in %s with %zu thumbprint%s:\n", o->name, o->clearance,
           o->policy, json_array_size(tps), json_array_size(tps) == 1 ? "" : "s");
    size_t i;
    json_t *v;
    json_array_foreach(tps, i, v) {
        printf("  %s\n", json_string_value(v));
    }
    rc = CLI_OK;
out:
    pki_registry_unlock(lock_fd);
    json_decref(policy);
    pki_import_cleanup(&imp);
    return rc;
}

/* databases_text formats {"hr":"ReadWrite"} as "hr=ReadWrite" into a heap string. */
static char *databases_text(const json_t *dbs)
{
    size_t cap = 1, len = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)dbs, key, v) {
        cap += strlen(key) + 2 + (json_is_string(v) ? strlen(json_string_value(v)) : 1);
    }
    char *s = cg_xmalloc(cap + 1);
    s[0] = '\0';
    json_object_foreach((json_t *)dbs, key, v) {
        len += (size_t)snprintf(s + len, cap + 1 - len, "%s%s=%s", len ? "," : "", key,
                                json_is_string(v) ? json_string_value(v) : "?");
    }
    if (len == 0) {
        snprintf(s, cap + 1, "-");
    }
    return s;
}

static char *thumbprints_text(const json_t *tps)
{
    size_t cap = 2, len = 0;
    size_t i;
    json_t *v;
    json_array_foreach(tps, i, v) {
        cap += (json_is_string(v) ? strlen(json_string_value(v)) : 1) + 1;
    }
    char *s = cg_xmalloc(cap);
    s[0] = '\0';
    json_array_foreach(tps, i, v) {
        len += (size_t)snprintf(s + len, cap - len, "%s%s", len ? "," : "",
                                json_is_string(v) ? json_string_value(v) : "?");
    }
    if (len == 0) {
        snprintf(s, cap, "-");
    }
    return s;
}

static const char *str_or_dash(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "-";
}

int cli_cert_list(const struct cli_opts *o)
{
    if (o->policy == NULL) {
        return cli_usage(o, "missing --policy FILE");
    }
    struct cg_errbuf err = {{0}};
    json_t *policy = NULL;
    if (load_existing(o->policy, &policy, &err) != CG_OK) {
        return cli_fail(&err);
    }
    json_t *entries = pki_registry_entries(policy);
    if (o->json) {
        char *text = json_dumps(entries, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text != NULL ? text : "[]");
        free(text);
        json_decref(policy);
        return CLI_OK;
    }
    size_t n = json_array_size(entries);
    char **cols = cg_xcalloc(n * 5 + 5, sizeof(char *));
    static const char *const headers[5] = {"NAME", "CLEARANCE", "DATABASES", "THUMBPRINTS",
                                           "EXPIRES"};
    size_t width[5];
    for (size_t c = 0; c < 5; c++) {
        cols[c] = cg_xstrdup(headers[c]);
        width[c] = strlen(headers[c]);
    }
    for (size_t r = 0; r < n; r++) {
        json_t *e = json_array_get(entries, r);
        char **row = cols + (r + 1) * 5;
        row[0] = cg_xstrdup(str_or_dash(json_object_get(e, "name")));
        row[1] = cg_xstrdup(str_or_dash(json_object_get(e, "clearance")));
        row[2] = databases_text(json_object_get(e, "databases"));
        row[3] = thumbprints_text(json_object_get(e, "thumbprints"));
        row[4] = cg_xstrdup(str_or_dash(json_object_get(e, "expires")));
        for (size_t c = 0; c < 5; c++) {
            size_t w = strlen(row[c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    for (size_t r = 0; r <= n; r++) {
        char **row = cols + r * 5;
        for (size_t c = 0; c < 5; c++) {
            if (c < 4) {
                printf("%-*s  ", (int)width[c], row[c]);
            } else {
                printf("%s\n", row[c]);
            }
        }
    }
    for (size_t i = 0; i < (n + 1) * 5; i++) {
        free(cols[i]);
    }
    free(cols);
    json_decref(policy);
    return CLI_OK;
}

int cli_cert_edit(const struct cli_opts *o)
{
    if (o->policy == NULL) {
        return cli_usage(o, "missing --policy FILE");
    }
    if (o->name == NULL && o->clearance == NULL && o->num_dbs == 0) {
        return cli_usage(o, "nothing to change: give --name, --clearance or --db");
    }
    struct cg_errbuf err = {{0}};
    struct pki_db_grant grants[CLI_MAX_ARGS];
    if ((o->clearance != NULL && pki_clearance_check(o->clearance, &err) != CG_OK) ||
        cli_parse_grants(o, grants, &err) != CG_OK) {
        return cli_fail(&err);
    }
    json_t *policy = NULL;
    struct pki_entry_spec spec = {.name = o->name, .clearance = o->clearance, .dbs = grants,
                                  .num_dbs = o->num_dbs, .set_dbs = o->num_dbs > 0};
    int rc = CLI_OK;
    int lock_fd = -1;
    if (lock_and_load_existing(o->policy, &lock_fd, &policy, &err) != CG_OK ||
        pki_registry_edit(policy, o->positional[0], &spec, &err) != CG_OK ||
        pki_registry_save(o->policy, policy, &err) != CG_OK) {
        rc = cli_fail(&err);
    } else {
        printf("updated the entry holding %s in %s\n", o->positional[0], o->policy);
    }
    pki_registry_unlock(lock_fd);
    json_decref(policy);
    return rc;
}

int cli_cert_delete(const struct cli_opts *o)
{
    if (o->policy == NULL) {
        return cli_usage(o, "missing --policy FILE");
    }
    struct cg_errbuf err = {{0}};
    json_t *policy = NULL;
    int rc = CLI_OK;
    size_t index = 0;
    char *name = NULL;
    int lock_fd = -1;
    if (lock_and_load_existing(o->policy, &lock_fd, &policy, &err) != CG_OK ||
        pki_registry_find(policy, o->positional[0], &index, &err) != CG_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    json_t *entry = json_array_get(pki_registry_entries(policy), index);
    name = cg_xstrdup(str_or_dash(json_object_get(entry, "name")));
    if (pki_registry_delete(policy, o->positional[0], &err) != CG_OK ||
        pki_registry_save(o->policy, policy, &err) != CG_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    printf("deleted '%s' from %s\n", name, o->policy);
out:
    pki_registry_unlock(lock_fd);
    free(name);
    json_decref(policy);
    return rc;
}
