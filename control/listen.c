#include "control/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/sockaddr.h"

#define LISTEN_BACKLOG 1024

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
    int claim = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
    *out = claim;
    return CG_OK;
}
