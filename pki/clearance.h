/* The words of RavenDB's security model as the command line and the admin API accept
 * them: clearances (ClusterAdmin, Operator, ValidUser) and database access levels
 * (Admin, ReadWrite, ReadOnly), spelled exactly. */
#ifndef CG_PKI_CLEARANCE_H
#define CG_PKI_CLEARANCE_H

#include "common/err.h"
#include "common/str.h"

/* struct pki_db_grant is one "NAME=LEVEL" argument. */
struct pki_db_grant {
    struct cg_str name; /* database name; points into the argument */
    const char *level;  /* canonical static spelling: "Admin", "ReadWrite", "ReadOnly" */
};

/* pki_clearance_check accepts exactly "ClusterAdmin", "Operator" or "ValidUser"; any
 * other text fails with CG_ERR_INVALID and a line listing the valid values (and the
 * right spelling when only the letter case or a separator differs). */
int pki_clearance_check(const char *text, struct cg_errbuf *err);

/* pki_level_check is pki_clearance_check for "Admin", "ReadWrite", "ReadOnly". */
int pki_level_check(const char *text, struct cg_errbuf *err);

/* pki_db_grant_make checks the database name |name| (|name_len| bytes, same rules as
 * pki_db_grant_parse) and the level |level| (pki_level_check) and fills |out|, whose
 * name points to |name|. Messages name the database, not a command-line option. */
int pki_db_grant_make(const char *name, size_t name_len, const char *level,
                      struct pki_db_grant *out, struct cg_errbuf *err);

/* pki_db_grant_parse splits "NAME=LEVEL" into |out|. NAME is 1..128 bytes of letters,
 * digits, '-', '_' or '.'; LEVEL is checked with pki_level_check. |arg| must outlive
 * |out|. */
int pki_db_grant_parse(const char *arg, struct pki_db_grant *out, struct cg_errbuf *err);

#endif
