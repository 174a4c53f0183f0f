#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mem.h"

int cg_file_read(const char *path, size_t max_len, char **out, size_t *out_len,
                 struct cg_errbuf *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return cg_errf(err, CG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    /* One byte of room past max_len tells "exactly max_len" from "larger". */
    size_t cap = max_len < 4096 ? max_len + 1 : 4096, len = 0;
    char *buf = cg_xmalloc(cap + 1);
    for (;;) {
        if (len > max_len) {
            close(fd);
            free(buf);
            return cg_errf(err, CG_ERR_LIMIT, "%s: larger than %zu bytes", path, max_len);
        }
        if (len == cap) {
            cap = cap * 2 > max_len + 1 ? max_len + 1 : cap * 2;
            buf = cg_xrealloc(buf, cap + 1);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int e = errno;
            close(fd);
            free(buf);
            return cg_errf(err, CG_ERR_IO, "%s: read failed: %s", path, strerror(e));
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return CG_OK;
}

int cg_file_resolve_link(const char *path, char **out, struct cg_errbuf *err)
{
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode)) {
        *out = cg_xstrdup(path);
        return CG_OK;
    }
    char *target = realpath(path, NULL);
    if (target == NULL) {
        return cg_errf(err, CG_ERR_IO, "%s: cannot follow the symlink: %s", path,
                       strerror(errno));
    }
    *out = target;
    return CG_OK;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return CG_ERR_IO;
        }
        p += n;
        len -= (size_t)n;
    }
    return CG_OK;
}

int cg_file_write_temp(const char *path, const void *data, size_t len, mode_t mode,
                       char **out_tmp, struct cg_errbuf *err)
{
    size_t tmp_len = strlen(path) + 32;
    char *tmp = cg_xmalloc(tmp_len);
    snprintf(tmp, tmp_len, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int rc =
            cg_errf(err, CG_ERR_IO, "%s: cannot create temporary file: %s", path, strerror(errno));
        free(tmp);
        return rc;
    }
    int rc = CG_OK;
    if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != CG_OK || fsync(fd) != 0) {
        rc = cg_errf(err, CG_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    }
    if (close(fd) != 0 && rc == CG_OK) {
        rc = cg_errf(err, CG_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    }
    if (rc != CG_OK) {
        unlink(tmp);
        free(tmp);
        return rc;
    }
    *out_tmp = tmp;
    return CG_OK;
}

/* write_atomic is cg_file_write_atomic for a |path| that is not a symlink. */
static int write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                        struct cg_errbuf *err)
{
    char *tmp = NULL;
    int rc = cg_file_write_temp(path, data, len, mode, &tmp, err);
    if (rc != CG_OK) {
        return rc;
    }
    if (rename(tmp, path) != 0) {
        rc = cg_errf(err, CG_ERR_IO, "%s: rename failed: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    /* Make the rename itself durable. */
    char *dir_copy = cg_xstrdup(path);
    int dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(dir_copy);
    return CG_OK;
}

int cg_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         struct cg_errbuf *err)
{
    char *target;
    int rc = cg_file_resolve_link(path, &target, err);
    if (rc != CG_OK) {
        return rc;
    }
    rc = write_atomic(target, data, len, mode, err);
    free(target);
    return rc;
}
