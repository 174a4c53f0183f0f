#include "proxy/core/access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"

#define BUF_CAP (4u << 20) /* per worker: beyond this the disk is not keeping up */
#define FLUSH_INTERVAL_MS 100

struct worker_buf {
    pthread_mutex_t lock;
    char *data;
    size_t len;
    size_t cap;
};

struct access_log {
    char *path;
    int fd;
    bool is_stderr;
    unsigned num_workers;
    struct worker_buf *bufs;
    pthread_t thread;
    pthread_mutex_t lock; /* guards stop / reopen and the condition */
    pthread_cond_t cond;
    bool stop;
    bool reopen;
    atomic_uint_fast64_t dropped;
};

static int open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

static void write_out(struct access_log *log, const char *p, size_t len, size_t lines_hint)
{
    while (len > 0) {
        ssize_t n = write(log->fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            /* Disk full or gone: count the loss, never stop serving. */
            atomic_fetch_add(&log->dropped, lines_hint ? lines_hint : 1);
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

static size_t count_lines(const char *p, size_t len)
{
    size_t n = 0;
    for (const char *q = p; (q = memchr(q, '\n', len - (size_t)(q - p))) != NULL; q++) {
        n++;
    }
    return n;
}

static void flush_all(struct access_log *log, char **scratch, size_t *scratch_cap)
{
    for (unsigned i = 0; i < log->num_workers; i++) {
        struct worker_buf *b = &log->bufs[i];
        pthread_mutex_lock(&b->lock);
        /* Swap the worker's buffer with ours so the write happens outside the lock. */
        char *data = b->data;
        size_t len = b->len;
        size_t cap = b->cap;
        b->data = *scratch;
        b->cap = *scratch_cap;
        b->len = 0;
        pthread_mutex_unlock(&b->lock);
        if (len > 0) {
            write_out(log, data, len, count_lines(data, len));
        }
        *scratch = data;
        *scratch_cap = cap;
    }
}

/* report_loss logs lost lines at most every 10 s, so a full disk is visible without
 * flooding the diagnostic log. */
static void report_loss(struct access_log *log, uint64_t *reported, time_t *last)
{
    uint64_t dropped = atomic_load(&log->dropped);
    time_t now = time(NULL);
    if (dropped != *reported && now - *last >= 10) {
        CG_LOG_WARN("access log %s: %llu lines lost so far (disk full or too slow)", log->path,
                    (unsigned long long)dropped);
        *reported = dropped;
        *last = now;
    }
}

static void *flusher(void *arg)
{
    struct access_log *log = arg;
    char *scratch = NULL;
    size_t scratch_cap = 0;
    uint64_t reported = 0;
    time_t last_report = 0;
    pthread_mutex_lock(&log->lock);
    for (;;) {
        bool stop = log->stop;
        if (log->reopen && !log->is_stderr) {
            log->reopen = false;
            int fd = open_file(log->path);
            if (fd >= 0) {
                close(log->fd);
                log->fd = fd;
            } else {
                CG_LOG_ERROR("access log %s: cannot reopen: %s", log->path, strerror(errno));
            }
        }
        pthread_mutex_unlock(&log->lock);
        flush_all(log, &scratch, &scratch_cap);
        report_loss(log, &reported, &last_report);
        if (stop) {
            break;
        }
        pthread_mutex_lock(&log->lock);
        if (!log->stop && !log->reopen) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += FLUSH_INTERVAL_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&log->cond, &log->lock, &ts);
        }
    }
    free(scratch);
    return NULL;
}

int access_log_open(const char *path, unsigned num_workers, struct access_log **out,
                    struct cg_errbuf *err)
{
    struct access_log *log = cg_xcalloc(1, sizeof(*log));
    log->is_stderr = strcmp(path, "-") == 0;
    log->path = cg_xstrdup(path);
    log->fd = log->is_stderr ? STDERR_FILENO : open_file(path);
    if (log->fd < 0) {
        int rc = cg_errf(err, CG_ERR_IO, "access log %s: cannot open: %s", path, strerror(errno));
        free(log->path);
        free(log);
        return rc;
    }
    log->num_workers = num_workers;
    log->bufs = cg_xcalloc(num_workers, sizeof(*log->bufs));
    for (unsigned i = 0; i < num_workers; i++) {
        pthread_mutex_init(&log->bufs[i].lock, NULL);
    }
    pthread_mutex_init(&log->lock, NULL);
    pthread_cond_init(&log->cond, NULL);
    atomic_init(&log->dropped, 0);
    if (pthread_create(&log->thread, NULL, flusher, log) != 0) {
        return cg_errf(err, CG_ERR_IO, "access log: cannot start thread");
    }
    *out = log;
    return CG_OK;
}

void access_log_close(struct access_log *log)
{
    if (log == NULL) {
        return;
    }
    pthread_mutex_lock(&log->lock);
    log->stop = true;
    pthread_cond_signal(&log->cond);
    pthread_mutex_unlock(&log->lock);
    pthread_join(log->thread, NULL);
    for (unsigned i = 0; i < log->num_workers; i++) {
        pthread_mutex_destroy(&log->bufs[i].lock);
        free(log->bufs[i].data);
    }
    if (!log->is_stderr) {
        close(log->fd);
    }
    pthread_mutex_destroy(&log->lock);
    pthread_cond_destroy(&log->cond);
    free(log->bufs);
    free(log->path);
    free(log);
}

void access_log_append(struct access_log *log, unsigned worker, const char *line, size_t len)
{
    struct worker_buf *b = &log->bufs[worker % log->num_workers];
    pthread_mutex_lock(&b->lock);
    if (b->len + len + 1 > BUF_CAP) {
        pthread_mutex_unlock(&b->lock);
        atomic_fetch_add(&log->dropped, 1);
        return;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < b->len + len + 1) {
            cap *= 2;
        }
        b->data = cg_xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, line, len);
    b->data[b->len + len] = '\n';
    b->len += len + 1;
    pthread_mutex_unlock(&b->lock);
}

void access_log_reopen(struct access_log *log)
{
    pthread_mutex_lock(&log->lock);
    log->reopen = true;
    pthread_cond_signal(&log->cond);
    pthread_mutex_unlock(&log->lock);
}

uint64_t access_log_dropped(const struct access_log *log)
{
    return atomic_load(&((struct access_log *)log)->dropped);
}
