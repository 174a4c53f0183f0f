#include "pki/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"
#include "common/mem.h"

char *pki_path_join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = cg_xmalloc(len);
    if (dir[0] != '\0' && dir[strlen(dir) - 1] == '/') {
        snprintf(p, len, "%s%s", dir, name);
    } else {
        snprintf(p, len, "%s/%s", dir, name);
    }
    return p;
}

int pki_mkdir_parents(const char *path, mode_t mode, struct cg_errbuf *err)
{
    char *copy = cg_xstrdup(path);
    int rc = CG_OK;
    for (char *p = copy + 1; ; p++) {
        if (*p != '/' && *p != '\0') {
            continue;
        }
        char saved = *p;
        *p = '\0';
        if (mkdir(copy, mode) != 0 && errno != EEXIST) {
            rc = cg_errf(err, CG_ERR_IO, "%s: cannot create directory: %s", copy,
                         strerror(errno));
            break;
        }
        *p = saved;
        if (saved == '\0') {
            break;
        }
    }
    free(copy);
    if (rc == CG_OK) {
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            rc = cg_errf(err, CG_ERR_IO, "%s: not a directory", path);
        }
    }
    return rc;
}

int pki_dir_state(const char *path, bool *out_exists, bool *out_empty, struct cg_errbuf *err)
{
    *out_exists = false;
    *out_empty = false;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) {
            return CG_OK;
        }
        return cg_errf(err, CG_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        return cg_errf(err, CG_ERR_EXISTS, "%s: exists and is not a directory", path);
    }
    *out_exists = true;
    DIR *d = opendir(path);
    if (d == NULL) {
        return cg_errf(err, CG_ERR_IO, "%s: cannot read directory: %s", path, strerror(errno));
    }
    bool empty = true;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = false;
            break;
        }
    }
    closedir(d);
    *out_empty = empty;
    return CG_OK;
}

void pki_remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                continue;
            }
            char *child = pki_path_join(path, e->d_name);
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
                pki_remove_tree(child);
            } else {
                unlink(child);
            }
            free(child);
        }
        closedir(d);
    }
    rmdir(path);
}

/* write_temp creates a uniquely named temporary file in |dir| holding |f|'s contents,
 * fsynced, and returns its heap path in |*out_tmp|. */
static int write_temp(const char *dir, const struct pki_file *f, char **out_tmp,
                      struct cg_errbuf *err)
{
    char *base = pki_path_join(dir, f->name);
    int rc = cg_file_write_temp(base, f->data, f->len, f->mode, out_tmp, err);
    free(base);
    return rc;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* write_into_staging builds the whole directory next to |dir| and renames it. */
static int write_into_staging(const char *dir, const struct pki_file *files, size_t num_files,
                              struct cg_errbuf *err)
{
    char *dir_copy = cg_xstrdup(dir);
    char *parent = cg_xstrdup(dirname(dir_copy));
    free(dir_copy);
    int rc = pki_mkdir_parents(parent, 0755, err);
    if (rc != CG_OK) {
        free(parent);
        return rc;
    }
    size_t len = strlen(dir) + 16;
    char *staging = cg_xmalloc(len);
    /* Strip trailing slashes so that the staging directory is a sibling. */
    snprintf(staging, len, "%s", dir);
    for (size_t n = strlen(staging); n > 1 && staging[n - 1] == '/'; n--) {
        staging[n - 1] = '\0';
    }
    strncat(staging, ".tmp.XXXXXX", len - strlen(staging) - 1);
    bool created = false;
    if (mkdtemp(staging) == NULL) {
        rc = cg_errf(err, CG_ERR_IO, "%s: cannot create directory: %s", parent, strerror(errno));
        goto out;
    }
    created = true;
    for (size_t i = 0; i < num_files; i++) {
        char *tmp = NULL;
        rc = write_temp(staging, &files[i], &tmp, err);
        if (rc != CG_OK) {
            goto out;
        }
        char *final = pki_path_join(staging, files[i].name);
        if (rename(tmp, final) != 0) {
            rc = cg_errf(err, CG_ERR_IO, "%s: rename failed: %s", final, strerror(errno));
        }
        free(tmp);
        free(final);
        if (rc != CG_OK) {
            goto out;
        }
    }
    fsync_dir(staging);
    /* rename(2) replaces an empty directory and refuses a non-empty one, so a
     * directory filled concurrently is never clobbered. */
    if (rename(staging, dir) != 0) {
        if (errno == ENOTEMPTY || errno == EEXIST) {
            rc = cg_errf(err, CG_ERR_EXISTS, "%s: already exists and is not empty", dir);
        } else {
            rc = cg_errf(err, CG_ERR_IO, "%s: rename failed: %s", dir, strerror(errno));
        }
        goto out;
    }
    fsync_dir(parent);
out:
    if (rc != CG_OK && created) {
        pki_remove_tree(staging);
    }
    free(staging);
    free(parent);
    return rc;
}

/* write_beside places each file into the existing directory with link(2), which never
 * replaces an existing name. */
static int write_beside(const char *dir, const struct pki_file *files, size_t num_files,
                        struct cg_errbuf *err)
{
    for (size_t i = 0; i < num_files; i++) {
        char *path = pki_path_join(dir, files[i].name);
        bool exists = access(path, F_OK) == 0;
        if (exists) {
            int rc = cg_errf(err, CG_ERR_EXISTS, "%s: already exists; refusing to overwrite",
                             path);
            free(path);
            return rc;
        }
        free(path);
    }
    size_t placed = 0;
    int rc = CG_OK;
    for (; placed < num_files; placed++) {
        char *tmp = NULL;
        rc = write_temp(dir, &files[placed], &tmp, err);
        if (rc != CG_OK) {
            break;
        }
        char *path = pki_path_join(dir, files[placed].name);
        if (link(tmp, path) != 0) {
            if (errno == EEXIST) {
                rc = cg_errf(err, CG_ERR_EXISTS, "%s: already exists; refusing to overwrite",
                             path);
            } else {
                rc = cg_errf(err, CG_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
            }
        }
        unlink(tmp);
        free(tmp);
        free(path);
        if (rc != CG_OK) {
            break;
        }
    }
    if (rc != CG_OK) {
        for (size_t i = 0; i < placed; i++) {
            char *path = pki_path_join(dir, files[i].name);
            unlink(path);
            free(path);
        }
        return rc;
    }
    fsync_dir(dir);
    return CG_OK;
}

int pki_files_write_new(const char *dir, const struct pki_file *files, size_t num_files,
                        struct cg_errbuf *err)
{
    for (size_t i = 0; i < num_files; i++) {
        if (strchr(files[i].name, '/') != NULL) {
            return cg_errf(err, CG_ERR_INVALID, "%s: file names may not contain '/'",
                           files[i].name);
        }
    }
    bool exists, empty;
    int rc = pki_dir_state(dir, &exists, &empty, err);
    if (rc != CG_OK) {
        return rc;
    }
    if (!exists || empty) {
        return write_into_staging(dir, files, num_files, err);
    }
    return write_beside(dir, files, num_files, err);
}
