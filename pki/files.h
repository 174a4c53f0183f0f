/* Writing sets of files so that a reader never sees half of them: certificate
 * directories (a CA, a server certificate, a client bundle) appear complete or not at
 * all. */
#ifndef CG_PKI_FILES_H
#define CG_PKI_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

/* struct pki_file is one file to create: a plain name (no '/') and its contents. */
struct pki_file {
    const char *name;  /* file name inside the target directory, e.g. "tls.key" */
    const void *data;  /* contents; not owned */
    size_t len;        /* bytes of |data| */
    mode_t mode;       /* permission bits, 0600 for private keys */
};

/* pki_files_write_new creates the files in directory |dir| without ever replacing an
 * existing file. When |dir| does not exist or is empty, the files are written into a
 * temporary sibling directory (mode 0700) that is then renamed to |dir|, so that
 * |dir| appears complete or not at all; missing parent directories are created (0755).
 * When |dir| exists and holds other files, none of |files| may exist yet
 * (CG_ERR_EXISTS naming the first one that does); each is written to a temporary file,
 * fsynced and linked into place, and on failure the ones already placed are removed. */
int pki_files_write_new(const char *dir, const struct pki_file *files, size_t num_files,
                        struct cg_errbuf *err);

/* pki_path_join returns "|dir|/|name|" in a heap string that the caller frees. */
char *pki_path_join(const char *dir, const char *name);

/* pki_mkdir_parents creates |path| and any missing parents with |mode| (like
 * mkdir -p). An existing directory is not an error. */
int pki_mkdir_parents(const char *path, mode_t mode, struct cg_errbuf *err);

/* pki_dir_state reports whether |path| is a directory without entries; it sets
 * |*out_exists| to whether |path| exists at all. Fails if |path| exists but is not a
 * readable directory. */
int pki_dir_state(const char *path, bool *out_exists, bool *out_empty, struct cg_errbuf *err);

/* pki_remove_tree deletes the directory |path| and the regular files and directories
 * below it (used to discard temporary directories after a failure). Best effort. */
void pki_remove_tree(const char *path);

#endif
