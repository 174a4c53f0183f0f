#include "control/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/sockaddr.h"

#define LISTEN_BACKLOG 1024
/* Upgrade requests queued on a claim; one is served at a time (control/upgrade.c). */
#define CLAIM_BACKLOG 4

/* tcp_socket creates a TCP socket for |a| with SO_REUSEADDR (and IPV6_V6ONLY, so that
 * [::]:p and 0.0.0.0:p never conflict), or returns -1 with errno set. */
static int tcp_socket(const struct config_address *a)
{
    int fd = socket(a->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a->addr.ss_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    return fd;
}

int listen_socket_open(const struct config_address *a, bool reuseport, const char *what, int *out,
                       struct cg_errbuf *err)
{
    int fd = tcp_socket(a);
    if (fd < 0) {
        return cg_errf(err, CG_ERR_IO, "%s %s: socket: %s", what, a->text, strerror(errno));
    }
    int one = 1;
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        int e = errno;
        close(fd);
        return cg_errf(err, CG_ERR_IO, "%s %s: SO_REUSEPORT: %s", what, a->text, strerror(e));
    }
    if (bind(fd, (const struct sockaddr *)&a->addr, a->addr_len) != 0 ||
        listen(fd, LISTEN_BACKLOG) != 0) {
        int e = errno;
        close(fd);
        return cg_errf(err, CG_ERR_IO, "%s %s: %s", what, a->text, strerror(e));
    }
    *out = fd;
    return CG_OK;
}

/* claim_name writes the abstract socket name of |a| (after the leading NUL of
 * sun_path) and returns the address length for bind. */
static socklen_t claim_name(const struct config_address *a, struct sockaddr_un *un)
{
    char ip[INET6_ADDRSTRLEN];
    const void *bytes = a->addr.ss_family == AF_INET
                            ? (const void *)&((const struct sockaddr_in *)&a->addr)->sin_addr
                            : (const void *)&((const struct sockaddr_in6 *)&a->addr)->sin6_addr;
    inet_ntop(a->addr.ss_family, bytes, ip, sizeof(ip));
    unsigned port = cg_sockaddr_port((const struct sockaddr *)&a->addr);
    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    int n = a->addr.ss_family == AF_INET ? snprintf(un->sun_path + 1, sizeof(un->sun_path) - 1,
                                                    "certgate/listen/tcp4/%s:%u", ip, port)
                                         : snprintf(un->sun_path + 1, sizeof(un->sun_path) - 1,
                                                    "certgate/listen/tcp6/[%s]:%u", ip, port);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

int listen_claim(const struct config_address *a, int *out, struct cg_errbuf *err)
{
    /* 1. Among certgates: the name is held by one socket at a time, atomically. */
    int claim = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (claim < 0) {
        return cg_errf(err, CG_ERR_IO, "listen %s: socket: %s", a->text, strerror(errno));
    }
    struct sockaddr_un un;
    socklen_t un_len = claim_name(a, &un);
    if (bind(claim, (const struct sockaddr *)&un, un_len) != 0) {
        int e = errno;
        close(claim);
        if (e == EADDRINUSE) {
            return cg_errf(err, CG_ERR_EXISTS,
                           "listen %s: already in use by another certgate process", a->text);
        }
        return cg_errf(err, CG_ERR_IO, "listen %s: claim: %s", a->text, strerror(e));
    }
    /* 2. Any other process: a socket without SO_REUSEPORT cannot bind where one listens
     * (SO_REUSEADDR still lets it past connections in TIME_WAIT). Nothing of ours listens
     * there yet, so a failure means someone else does. */
    int probe = tcp_socket(a);
    if (probe < 0) {
        int e = errno;
        close(claim);
        return cg_errf(err, CG_ERR_IO, "listen %s: socket: %s", a->text, strerror(e));
    }
    int rc = bind(probe, (const struct sockaddr *)&a->addr, a->addr_len);
    int e = errno;
    close(probe);
    if (rc != 0) {
        close(claim);
        if (e == EADDRINUSE) {
            return cg_errf(err, CG_ERR_EXISTS,
                           "listen %s: address already in use by another process", a->text);
        }
        return cg_errf(err, CG_ERR_IO, "listen %s: %s", a->text, strerror(e));
    }
    /* 3. A later `certgate run --upgrade` connects here (control/upgrade.h). */
    if (listen(claim, CLAIM_BACKLOG) != 0) {
        e = errno;
        close(claim);
        return cg_errf(err, CG_ERR_IO, "listen %s: claim: %s", a->text, strerror(e));
    }
    *out = claim;
    return CG_OK;
}

int listen_claim_connect(const struct config_address *a, unsigned timeout_ms, int *out,
                         struct cg_errbuf *err)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return cg_errf(err, CG_ERR_IO, "listen %s: socket: %s", a->text, strerror(errno));
    }
    /* A blocking connect to a Unix socket whose backlog is full waits up to the send
     * timeout. */
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_un un;
    socklen_t un_len = claim_name(a, &un);
    if (connect(fd, (const struct sockaddr *)&un, un_len) == 0) {
        *out = fd;
        return CG_OK;
    }
    int e = errno;
    close(fd);
    if (e != ECONNREFUSED) {
        return cg_errf(err, CG_ERR_IO, "listen %s: connecting to its claim: %s", a->text,
                       strerror(e == EAGAIN ? ETIMEDOUT : e));
    }
    /* Refused: either nobody holds the name, or its holder does not listen on it. Only
     * binding the name tells them apart. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        return cg_errf(err, CG_ERR_IO, "listen %s: socket: %s", a->text, strerror(errno));
    }
    int rc = bind(probe, (const struct sockaddr *)&un, un_len);
    e = errno;
    close(probe);
    if (rc == 0) {
        return cg_errf(err, CG_ERR_NOT_FOUND, "listen %s: no certgate holds it", a->text);
    }
    if (e == EADDRINUSE) {
        return cg_errf(err, CG_ERR_INVALID,
                       "listen %s: held by a certgate that cannot hand its sockets over "
                       "(a version without binary upgrades?)",
                       a->text);
    }
    return cg_errf(err, CG_ERR_IO, "listen %s: claim: %s", a->text, strerror(e));
}

static bool same_address(const struct sockaddr_storage *ss, socklen_t len,
                         const struct config_address *a)
{
    if (ss->ss_family != a->addr.ss_family || len != a->addr_len) {
        return false;
    }
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)ss;
        const struct sockaddr_in *y = (const struct sockaddr_in *)&a->addr;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)ss;
    const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&a->addr;
    return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* is_listening_stream reports whether |fd| is a listening SOCK_STREAM socket of |family|. */
static bool is_listening_stream(int fd, int family)
{
    int v = 0;
    socklen_t len = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) != 0 || v != family) {
        return false;
    }
    len = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) != 0 || v != SOCK_STREAM) {
        return false;
    }
    len = sizeof(v);
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v == 1;
}

bool listen_socket_is(int fd, const struct config_address *a)
{
    if (!is_listening_stream(fd, a->addr.ss_family)) {
        return false;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && same_address(&ss, len, a);
}

bool listen_claim_is(int fd, const struct config_address *a)
{
    if (!is_listening_stream(fd, AF_UNIX)) {
        return false;
    }
    struct sockaddr_un want, got;
    socklen_t want_len = claim_name(a, &want);
    socklen_t got_len = sizeof(got);
    return getsockname(fd, (struct sockaddr *)&got, &got_len) == 0 && got_len == want_len &&
           memcmp(&got, &want, want_len) == 0;
}
