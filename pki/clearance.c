#include "pki/clearance.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define MAX_DB_NAME 128

static const char *const clearances[] = {"ClusterAdmin", "Operator", "ValidUser", NULL};
static const char *const levels[] = {"Admin", "ReadWrite", "ReadOnly", NULL};

/* loose_eq compares ignoring letter case, spaces, '-' and '_' to suggest a spelling. */
static bool loose_eq(const char *a, const char *b)
{
    for (;;) {
        while (*a == ' ' || *a == '-' || *a == '_') {
            a++;
        }
        while (*b == ' ' || *b == '-' || *b == '_') {
            b++;
        }
        if (*a == '\0' || *b == '\0') {
            return *a == *b;
        }
        if (cg_ascii_lower(*a) != cg_ascii_lower(*b)) {
            return false;
        }
        a++;
        b++;
    }
}

static int check_word(const char *what, const char *const *valid, const char *text,
                      const char **out, struct cg_errbuf *err)
{
    for (size_t i = 0; valid[i] != NULL; i++) {
        if (strcmp(text, valid[i]) == 0) {
            if (out != NULL) {
                *out = valid[i];
            }
            return CG_OK;
        }
    }
    for (size_t i = 0; valid[i] != NULL; i++) {
        if (loose_eq(text, valid[i])) {
            return cg_errf(err, CG_ERR_INVALID, "unknown %s '%s': did you mean '%s'? "
                           "(valid: %s, %s, %s)", what, text, valid[i], valid[0], valid[1],
                           valid[2]);
        }
    }
    return cg_errf(err, CG_ERR_INVALID, "unknown %s '%s' (valid: %s, %s, %s)", what, text,
                   valid[0], valid[1], valid[2]);
}

int pki_clearance_check(const char *text, struct cg_errbuf *err)
{
    return check_word("clearance", clearances, text, NULL, err);
}

int pki_level_check(const char *text, struct cg_errbuf *err)
{
    return check_word("access level", levels, text, NULL, err);
}

static bool valid_db_name(const char *name, size_t name_len)
{
    if (name_len == 0 || name_len > MAX_DB_NAME) {
        return false;
    }
    for (size_t i = 0; i < name_len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.')) {
            return false;
        }
    }
    return true;
}

int pki_db_grant_make(const char *name, size_t name_len, const char *level,
                      struct pki_db_grant *out, struct cg_errbuf *err)
{
    if (!valid_db_name(name, name_len)) {
        return cg_errf(err, CG_ERR_INVALID,
                       "database '%.*s': names are 1 to %d letters, digits, '-', '_' or '.'",
                       (int)(name_len > MAX_DB_NAME ? MAX_DB_NAME : name_len), name,
                       MAX_DB_NAME);
    }
    const char *canonical = NULL;
    struct cg_errbuf local = {{0}};
    if (check_word("access level", levels, level, &canonical, &local) != CG_OK) {
        return cg_errf(err, CG_ERR_INVALID, "database '%.*s': %s", (int)name_len, name,
                       local.msg);
    }
    out->name = (struct cg_str){name, name_len};
    out->level = canonical;
    return CG_OK;
}

int pki_db_grant_parse(const char *arg, struct pki_db_grant *out, struct cg_errbuf *err)
{
    const char *eq = strchr(arg, '=');
    if (eq == NULL) {
        return cg_errf(err, CG_ERR_INVALID, "--db '%s': expected NAME=LEVEL, e.g. hr=ReadWrite",
                       arg);
    }
    size_t name_len = (size_t)(eq - arg);
    if (name_len == 0 || name_len > MAX_DB_NAME) {
        return cg_errf(err, CG_ERR_INVALID, "--db '%s': database name must be 1 to %d bytes",
                       arg, MAX_DB_NAME);
    }
    if (!valid_db_name(arg, name_len)) {
        return cg_errf(err, CG_ERR_INVALID, "--db '%s': database names use letters, digits, "
                       "'-', '_' and '.'", arg);
    }
    const char *level = NULL;
    struct cg_errbuf local = {{0}};
    if (check_word("access level", levels, eq + 1, &level, &local) != CG_OK) {
        return cg_errf(err, CG_ERR_INVALID, "--db '%s': %s", arg, local.msg);
    }
    out->name = (struct cg_str){arg, name_len};
    out->level = level;
    return CG_OK;
}
