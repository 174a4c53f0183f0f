/* Whole-file reads and atomic writes. */
#ifndef CG_COMMON_FILE_H
#define CG_COMMON_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

/* cg_file_read reads all of |path| (at most |max_len| bytes) into a heap buffer that is
 * NUL-terminated for convenience; the caller frees |*out|. */
int cg_file_read(const char *path, size_t max_len, char **out, size_t *out_len,
                 struct cg_errbuf *err);

/* cg_file_write_atomic replaces |path| with |data|: it writes a temporary file in the
 * same directory with |mode|, fsyncs it, renames it over |path| and fsyncs the
 * directory. Readers see the old or the new file, never a mix; on failure the old
 * file is untouched and the temporary file removed. A symlink at |path| is written
 * through (cg_file_resolve_link): the link stays and its target gets the new content. */
int cg_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         struct cg_errbuf *err);

/* cg_file_write_temp writes |data| with |mode| into a new file "|path|.tmp.XXXXXX"
 * (mkstemp) and fsyncs it, for the caller to rename into place: it sets |*out_tmp| to
 * its name (a heap string the caller frees) and returns CG_OK, or CG_ERR_IO with the
 * temporary file removed. */
int cg_file_write_temp(const char *path, const void *data, size_t len, mode_t mode,
                       char **out_tmp, struct cg_errbuf *err);

/* cg_file_resolve_link returns, in a heap string the caller frees, the file |path|
 * names once symlinks are followed (realpath) when |path| itself is a symlink, else a
 * copy of |path| (which need not exist). Renaming a new file over a symlink would
 * replace the link with a regular file: operators who point the policy at a file kept
 * elsewhere would silently lose the link. A dangling link is CG_ERR_IO. */
int cg_file_resolve_link(const char *path, char **out, struct cg_errbuf *err);

#endif
