#include "proxy/bev_read.h"

#include <sys/uio.h>

/* libevent 2.1 reads at most EVBUFFER_MAX_READ (4 KiB) per wakeup whatever
 * bufferevent_set_max_single_read says: a 100 MB transfer cost 25,000 reads plus as
 * many FIONREAD and epoll calls. EOF and errors are left to libevent's next read. */
void bev_read_more(struct bufferevent *bev, size_t max)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t have = evbuffer_get_length(in);
    if (have < 4096 || have >= max) {
        return;
    }
    struct evbuffer_iovec v[2];
    /* A socket bufferevent keeps the end of its input frozen outside its own reads. */
    evbuffer_unfreeze(in, 0);
    int n = evbuffer_reserve_space(in, (ev_ssize_t)(max - have), v, 2);
    if (n <= 0) {
        evbuffer_freeze(in, 0);
        return;
    }
    struct iovec iov[2];
    for (int i = 0; i < n; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    ssize_t r = readv(bufferevent_getfd(bev), iov, n);
    if (r <= 0) {
        evbuffer_commit_space(in, NULL, 0);
        evbuffer_freeze(in, 0);
        return;
    }
    size_t left = (size_t)r;
    int used = 0;
    for (; used < n && left > 0; used++) {
        if (v[used].iov_len > left) {
            v[used].iov_len = left;
        }
        left -= v[used].iov_len;
    }
    evbuffer_commit_space(in, v, used);
    evbuffer_freeze(in, 0);
}

