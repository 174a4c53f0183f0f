#include "control/upgrade.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "control/listen.h"

extern char **environ;

/* ---- the wire -------------------------------------------------------------------------
 * Fixed-size messages in host byte order (both ends run on this host), each in one
 * sendmsg, a SOCKET message with its descriptor attached. A version mismatch is refused
 * with a REFUSE message both versions understand. */

#define WIRE_MAGIC "certgate-upgrade"
#define WIRE_VERSION 1

enum wire_type {
    WIRE_HELLO = 1,  /* new -> old: send me your sockets */
    WIRE_SOCKET = 2, /* old -> new: one socket (|kind|), its descriptor attached */
    WIRE_END = 3,    /* old -> new: that was all (|count| sockets) */
    WIRE_REFUSE = 4, /* old -> new: no hand-over; |text| says why */
    WIRE_TAKEN = 5,  /* new -> old: I serve on them; stop accepting and drain */
    WIRE_BYE = 6,    /* old -> new: draining; you are the one serving */
};

struct wire {
    char magic[16]; /* WIRE_MAGIC, not NUL-terminated */
    uint32_t version;
    uint32_t type;  /* enum wire_type */
    uint32_t kind;  /* WIRE_SOCKET: enum upgrade_socket_kind */
    uint32_t count; /* WIRE_END: sockets sent */
    char text[160]; /* WIRE_REFUSE: the reason, NUL-terminated */
};

static const char *wire_type_str(uint32_t type)
{
    switch (type) {
    case WIRE_HELLO:
        return "HELLO";
    case WIRE_SOCKET:
        return "SOCKET";
    case WIRE_END:
        return "END";
    case WIRE_REFUSE:
        return "REFUSE";
    case WIRE_TAKEN:
        return "TAKEN";
    case WIRE_BYE:
        return "BYE";
    }
    return "unknown";
}

/* send_wire sends one message, with |fd_to_pass| attached when it is not -1. Returns 0
 * or -1 with errno set. */
static int send_wire(int fd, uint32_t type, uint32_t kind, uint32_t count, const char *text,
                     int fd_to_pass)
{
    struct wire w;
    memset(&w, 0, sizeof(w));
    memcpy(w.magic, WIRE_MAGIC, sizeof(w.magic));
    w.version = WIRE_VERSION;
    w.type = type;
    w.kind = kind;
    w.count = count;
    if (text != NULL) {
        snprintf(w.text, sizeof(w.text), "%s", text);
    }
    struct iovec iov = {.iov_base = &w, .iov_len = sizeof(w)};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } cm;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd_to_pass >= 0) {
        memset(&cm, 0, sizeof(cm));
        msg.msg_control = cm.buf;
        msg.msg_controllen = sizeof(cm.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
    }
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
        return -1;
    }
    if ((size_t)n != sizeof(w)) {
        errno = EMSGSIZE;
        return -1;
    }
    return 0;
}

/* enum recv_result is how reading one message ended. */
enum recv_result {
    RECV_OK,      /* a well-formed message (|*passed| holds its descriptor or -1) */
    RECV_EOF,     /* the other side closed the connection */
    RECV_TIMEOUT, /* nothing within the socket's receive timeout */
    RECV_ERROR,   /* a system call failed (errno) */
    RECV_BAD,     /* not our protocol, or another version */
};

static enum recv_result recv_wire(int fd, struct wire *w, int *passed)
{
    *passed = -1;
    size_t got = 0;
    while (got < sizeof(*w)) {
        struct iovec iov = {.iov_base = (char *)w + got, .iov_len = sizeof(*w) - got};
        union {
            char buf[CMSG_SPACE(sizeof(int) * 4)];
            struct cmsghdr align;
        } cm;
        struct msghdr msg = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf)};
        ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; c != NULL;
             c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
                continue;
            }
            size_t num = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < num; i++) {
                int x;
                memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                if (*passed < 0) {
                    *passed = x;
                } else {
                    close(x); /* one descriptor per message: never keep extra ones */
                }
            }
        }
        if (n < 0) {
            int e = errno;
            if (*passed >= 0) {
                close(*passed);
                *passed = -1;
            }
            errno = e;
            return e == EAGAIN ? RECV_TIMEOUT : RECV_ERROR;
        }
        if (n == 0) {
            if (*passed >= 0) {
                close(*passed);
                *passed = -1;
            }
            return got == 0 ? RECV_EOF : RECV_BAD;
        }
        got += (size_t)n;
    }
    if (memcmp(w->magic, WIRE_MAGIC, sizeof(w->magic)) != 0 || w->version != WIRE_VERSION) {
        if (*passed >= 0) {
            close(*passed);
            *passed = -1;
        }
        return RECV_BAD;
    }
    w->text[sizeof(w->text) - 1] = '\0';
    return RECV_OK;
}

static void set_timeouts(int fd, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* peer_of returns the credentials of the process at the other end of |fd|. */
static int peer_of(int fd, struct ucred *out)
{
    socklen_t len = sizeof(*out);
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, out, &len);
}

/* ---- the running process -------------------------------------------------------------- */

/* enum server_state is where the request being served is. */
enum server_state {
    SERVER_IDLE,       /* no request: accepting on the claims */
    SERVER_WAIT_HELLO, /* a process of ours connected; it has not asked yet */
    SERVER_WAIT_TAKEN, /* the sockets were sent; the new process is starting */
    SERVER_REFUSING,   /* shutting down: every request is refused (after a hand-over,
                          none comes: the claims are not watched any more) */
};

struct upgrade_server {
    struct event_base *base;
    struct event **ev_claims;
    size_t num_claims;
    const struct upgrade_socket *socks;
    size_t num_socks;
    upgrade_taken_fn on_taken;
    void *arg;
    enum server_state state;
    char refuse_why[128];
    int conn;       /* the request being served, or -1 */
    pid_t peer_pid; /* its process */
    struct event *ev_conn;
    atomic_uint_fast64_t *counts; /* by enum upgrade_result (borrowed) */
};

const char *upgrade_result_str(enum upgrade_result r)
{
    switch (r) {
    case UPGRADE_HANDED_OVER:
        return "handed_over";
    case UPGRADE_ABANDONED:
        return "abandoned";
    case UPGRADE_REFUSED:
        return "refused";
    case UPGRADE_NUM_RESULTS:
        break;
    }
    return "unknown";
}

static void count(struct upgrade_server *s, enum upgrade_result r)
{
    atomic_fetch_add(&s->counts[r], 1);
}

static void end_request(struct upgrade_server *s)
{
    if (s->ev_conn != NULL) {
        event_free(s->ev_conn);
        s->ev_conn = NULL;
    }
    if (s->conn >= 0) {
        close(s->conn);
        s->conn = -1;
    }
    if (s->state != SERVER_REFUSING) {
        s->state = SERVER_IDLE;
    }
}

/* give_up ends the request of a new process that did not finish the hand-over: this
 * process changed nothing and serves on. */
static void give_up(struct upgrade_server *s, const char *what)
{
    CG_LOG_WARN("upgrade: pid %ld %s before taking over: still serving", (long)s->peer_pid, what);
    count(s, UPGRADE_ABANDONED);
    end_request(s);
}

static void send_sockets(struct upgrade_server *s)
{
    for (size_t i = 0; i < s->num_socks; i++) {
        if (send_wire(s->conn, WIRE_SOCKET, s->socks[i].kind, 0, NULL, s->socks[i].fd) != 0) {
            char what[96];
            snprintf(what, sizeof(what), "could not be sent its sockets (%s)", strerror(errno));
            give_up(s, what);
            return;
        }
    }
    if (send_wire(s->conn, WIRE_END, 0, (uint32_t)s->num_socks, NULL, -1) != 0) {
        give_up(s, "could not be sent its sockets");
        return;
    }
    CG_LOG_INFO("upgrade: sent %zu sockets to pid %ld; serving on until it takes over",
                s->num_socks, (long)s->peer_pid);
    s->state = SERVER_WAIT_TAKEN;
}

static void on_conn(evutil_socket_t fd, short what, void *arg)
{
    struct upgrade_server *s = arg;
    if (what & EV_TIMEOUT) {
        give_up(s, "went silent");
        return;
    }
    struct wire w;
    int passed;
    enum recv_result r = recv_wire(s->conn, &w, &passed);
    if (passed >= 0) {
        close(passed); /* the new process never sends descriptors */
    }
    if (r != RECV_OK) {
        give_up(s, r == RECV_EOF ? "closed the connection" : "broke the protocol");
        return;
    }
    if (s->state == SERVER_WAIT_HELLO && w.type == WIRE_HELLO) {
        send_sockets(s);
        return;
    }
    if (s->state == SERVER_WAIT_TAKEN && w.type == WIRE_TAKEN) {
        /* Committed: the claims are the new process's to answer on from now on. */
        pid_t pid = s->peer_pid;
        s->state = SERVER_REFUSING;
        for (size_t i = 0; i < s->num_claims; i++) {
            event_del(s->ev_claims[i]);
        }
        count(s, UPGRADE_HANDED_OVER);
        s->on_taken(s->arg, pid);
        if (send_wire(s->conn, WIRE_BYE, 0, 0, NULL, -1) != 0) {
            CG_LOG_WARN("upgrade: telling pid %ld that this process drains: %s", (long)pid,
                        strerror(errno));
        }
        end_request(s);
        return;
    }
    char why[64];
    snprintf(why, sizeof(why), "sent %s out of turn", wire_type_str(w.type));
    give_up(s, why);
}

static void refuse(int conn, const char *why)
{
    set_timeouts(conn, 1000);
    send_wire(conn, WIRE_REFUSE, 0, 0, why, -1);
    close(conn);
}

static void on_claim(evutil_socket_t fd, short what, void *arg)
{
    struct upgrade_server *s = arg;
    int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) {
        return; /* EAGAIN: the other claim socket's event took it */
    }
    struct ucred cred;
    if (peer_of(conn, &cred) != 0) {
        close(conn);
        return;
    }
    if (cred.uid != geteuid()) {
        /* The claim is an abstract socket: anyone may connect. Only our own user may
         * have our sockets. */
        CG_LOG_WARN("upgrade: refused a request from pid %ld, uid %lu: certgate runs as uid %lu",
                    (long)cred.pid, (unsigned long)cred.uid, (unsigned long)geteuid());
        count(s, UPGRADE_REFUSED); /* before the refusal: the peer may look at once */
        refuse(conn, "the running certgate belongs to another user");
        return;
    }
    if (s->state == SERVER_REFUSING) {
        CG_LOG_WARN("upgrade: refused a request from pid %ld: %s", (long)cred.pid, s->refuse_why);
        count(s, UPGRADE_REFUSED); /* before the refusal: the peer may look at once */
        refuse(conn, s->refuse_why);
        return;
    }
    if (s->state != SERVER_IDLE) {
        char why[96];
        snprintf(why, sizeof(why), "another upgrade (pid %ld) is in progress", (long)s->peer_pid);
        CG_LOG_WARN("upgrade: refused a request from pid %ld: %s", (long)cred.pid, why);
        count(s, UPGRADE_REFUSED); /* before the refusal: the peer may look at once */
        refuse(conn, why);
        return;
    }
    CG_LOG_INFO("upgrade: pid %ld asks for the listening sockets", (long)cred.pid);
    /* Blocking with timeouts: the messages are small and the new process reads them as
     * they come, so the main loop never waits long. */
    set_timeouts(conn, UPGRADE_TIMEOUT_MS);
    s->conn = conn;
    s->peer_pid = cred.pid;
    s->state = SERVER_WAIT_HELLO;
    s->ev_conn = event_new(s->base, conn, EV_READ | EV_PERSIST, on_conn, s);
    struct timeval tv = cg_timeval_ms(UPGRADE_TIMEOUT_MS);
    event_add(s->ev_conn, &tv);
}

struct upgrade_server *upgrade_server_new(struct event_base *base, const int *claims,
                                          size_t num_claims, const struct upgrade_socket *socks,
                                          size_t num_socks, upgrade_taken_fn on_taken, void *arg,
                                          atomic_uint_fast64_t *counts)
{
    struct upgrade_server *s = cg_xcalloc(1, sizeof(*s));
    s->counts = counts;
    s->base = base;
    s->socks = socks;
    s->num_socks = num_socks;
    s->on_taken = on_taken;
    s->arg = arg;
    s->conn = -1;
    s->ev_claims = cg_xcalloc(num_claims ? num_claims : 1, sizeof(*s->ev_claims));
    s->num_claims = num_claims;
    for (size_t i = 0; i < num_claims; i++) {
        s->ev_claims[i] = event_new(base, claims[i], EV_READ | EV_PERSIST, on_claim, s);
        event_add(s->ev_claims[i], NULL);
    }
    return s;
}

void upgrade_server_refuse_all(struct upgrade_server *s, const char *why)
{
    if (s == NULL) {
        return;
    }
    if (s->state == SERVER_WAIT_HELLO || s->state == SERVER_WAIT_TAKEN) {
        CG_LOG_WARN("upgrade: abandoning the hand-over to pid %ld: %s", (long)s->peer_pid, why);
        count(s, UPGRADE_ABANDONED);
    }
    s->state = SERVER_REFUSING;
    snprintf(s->refuse_why, sizeof(s->refuse_why), "%s", why);
    end_request(s);
}

void upgrade_server_free(struct upgrade_server *s)
{
    if (s == NULL) {
        return;
    }
    s->state = SERVER_REFUSING;
    end_request(s);
    for (size_t i = 0; i < s->num_claims; i++) {
        event_free(s->ev_claims[i]);
    }
    free(s->ev_claims);
    free(s);
}

int upgrade_spawn(char *const *argv, pid_t *out, struct cg_errbuf *err)
{
    size_t argc = 0;
    while (argv[argc] != NULL) {
        argc++;
    }
    char **args = cg_xcalloc(argc + 2, sizeof(*args));
    size_t n = 0;
    for (size_t i = 0; i < argc; i++) {
        if (i == 0 || strcmp(argv[i], "--upgrade") != 0) {
            args[n++] = argv[i];
        }
    }
    args[n++] = (char *)"--upgrade";
    args[n] = NULL;
    /* The new process installs its own handlers and masks; it must not inherit ours
     * (a blocked SIGTERM would outlive exec, and so would an ignored one). */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    /* Nor any descriptor but stdin, stdout and stderr: accepted connections are not
     * close-on-exec, and a copy in the new process would keep each one open after the
     * old process closes it (and pin its memory until the new one exits). What the new
     * process needs it asks for. */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, &attr, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    free(args);
    if (rc != 0) {
        return cg_errf(err, CG_ERR_IO, "starting %s: %s", argv[0], strerror(rc));
    }
    *out = pid;
    return CG_OK;
}

/* ---- the new process ------------------------------------------------------------------ */

/* find_holder connects to the claim of the first listen address of |cfg| that a
 * certgate holds. */
static int find_holder(const struct config *cfg, int *out, struct cg_errbuf *err)
{
    char addrs[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        for (size_t j = 0; j < cfg->listeners[i].num_addresses; j++) {
            struct cg_errbuf e = {0};
            int rc = listen_claim_connect(&cfg->listeners[i].addresses[j], UPGRADE_TIMEOUT_MS,
                                          out, &e);
            if (rc == CG_OK) {
                return CG_OK;
            }
            if (rc != CG_ERR_NOT_FOUND) {
                return cg_errf(err, rc, "--upgrade: %s", e.msg);
            }
            const struct config_address *a = &cfg->listeners[i].addresses[j];
            bool same_text = j > 0 && strcmp(a[-1].text, a->text) == 0; /* "*:p" is two */
            if (used < sizeof(addrs) && !same_text) {
                int n = snprintf(addrs + used, sizeof(addrs) - used, "%s%s", used ? ", " : "",
                                 a->text);
                used += n > 0 ? (size_t)n : 0;
            }
        }
    }
    return cg_errf(err, CG_ERR_NOT_FOUND,
                   "--upgrade: no running certgate listens on %s: nothing to take over", addrs);
}

static int expect(struct upgrade_client *c, enum wire_type want, struct wire *w, int *passed,
                  struct cg_errbuf *err)
{
    enum recv_result r = recv_wire(c->fd, w, passed);
    switch (r) {
    case RECV_OK:
        break;
    case RECV_EOF:
        return cg_errf(err, CG_ERR_IO, "--upgrade: the running certgate (pid %ld) closed the "
                                       "connection",
                       (long)c->old_pid);
    case RECV_TIMEOUT:
        return cg_errf(err, CG_ERR_IO,
                       "--upgrade: the running certgate (pid %ld) did not answer within %d s",
                       (long)c->old_pid, UPGRADE_TIMEOUT_MS / 1000);
    case RECV_ERROR:
        return cg_errf(err, CG_ERR_IO, "--upgrade: reading from pid %ld: %s", (long)c->old_pid,
                       strerror(errno));
    case RECV_BAD:
        return cg_errf(err, CG_ERR_INVALID,
                       "--upgrade: the running certgate (pid %ld) speaks another upgrade "
                       "protocol",
                       (long)c->old_pid);
    }
    if (w->type == WIRE_REFUSE) {
        return cg_errf(err, CG_ERR_INVALID, "--upgrade: the running certgate (pid %ld) refused: %s",
                       (long)c->old_pid, w->text);
    }
    if (w->type != (uint32_t)want && !(want == WIRE_SOCKET && w->type == WIRE_END)) {
        return cg_errf(err, CG_ERR_INVALID, "--upgrade: pid %ld sent %s, expected %s",
                       (long)c->old_pid, wire_type_str(w->type), wire_type_str(want));
    }
    return CG_OK;
}

int upgrade_client_connect(const struct config *cfg, struct upgrade_client **out,
                           struct cg_errbuf *err)
{
    int fd;
    int rc = find_holder(cfg, &fd, err);
    if (rc != CG_OK) {
        return rc;
    }
    struct upgrade_client *c = cg_xcalloc(1, sizeof(*c));
    c->fd = fd;
    struct ucred cred;
    if (peer_of(fd, &cred) != 0) {
        rc = cg_errf(err, CG_ERR_IO, "--upgrade: SO_PEERCRED: %s", strerror(errno));
        goto fail;
    }
    c->old_pid = cred.pid;
    if (cred.uid != geteuid()) {
        /* Not ours: whatever it would send is not what we should serve on. */
        rc = cg_errf(err, CG_ERR_INVALID,
                     "--upgrade: the process holding the listen addresses (pid %ld) runs as "
                     "uid %lu, not as uid %lu",
                     (long)cred.pid, (unsigned long)cred.uid, (unsigned long)geteuid());
        goto fail;
    }
    set_timeouts(fd, UPGRADE_TIMEOUT_MS);
    /* A refusal may come at once, and close the connection before HELLO is written:
     * then the REFUSE message waiting to be read says why. */
    int send_errno = send_wire(fd, WIRE_HELLO, 0, 0, NULL, -1) == 0 ? 0 : errno;
    size_t cap = 0;
    for (;;) {
        struct wire w;
        memset(&w, 0, sizeof(w));
        int passed;
        struct cg_errbuf read_err = {0};
        rc = expect(c, WIRE_SOCKET, &w, &passed, &read_err);
        if (rc == CG_OK && send_errno != 0) {
            rc = CG_ERR_IO; /* anything but a refusal: the HELLO did not get through */
        }
        if (rc != CG_OK) {
            if (passed >= 0) {
                close(passed);
            }
            if (send_errno != 0 && !(rc == CG_ERR_INVALID && w.type == WIRE_REFUSE)) {
                rc = cg_errf(err, CG_ERR_IO, "--upgrade: writing to pid %ld: %s",
                             (long)c->old_pid, strerror(send_errno));
            } else {
                rc = cg_errf(err, rc, "%s", read_err.msg);
            }
            goto fail;
        }
        if (w.type == WIRE_END) {
            if (passed >= 0) {
                close(passed);
            }
            if (w.count != c->num_socks) {
                rc = cg_errf(err, CG_ERR_INVALID,
                             "--upgrade: pid %ld announced %u sockets and sent %zu",
                             (long)c->old_pid, w.count, c->num_socks);
                goto fail;
            }
            break;
        }
        if (passed < 0) {
            rc = cg_errf(err, CG_ERR_INVALID, "--upgrade: pid %ld sent a socket message without "
                                              "a socket",
                         (long)c->old_pid);
            goto fail;
        }
        if (c->num_socks == cap) {
            cap = cap ? 2 * cap : 16;
            c->socks = cg_xrealloc(c->socks, cap * sizeof(*c->socks));
        }
        c->socks[c->num_socks++] = (struct upgrade_socket){.kind = w.kind, .fd = passed};
    }
    CG_LOG_INFO("upgrade: received %zu sockets from pid %ld", c->num_socks, (long)c->old_pid);
    *out = c;
    return CG_OK;
fail:
    upgrade_client_free(c);
    return rc;
}

int upgrade_client_take(struct upgrade_client *c, enum upgrade_socket_kind kind,
                        const struct config_address *a)
{
    for (size_t i = 0; i < c->num_socks; i++) {
        struct upgrade_socket *s = &c->socks[i];
        if (s->fd < 0 || s->kind != kind) {
            continue;
        }
        bool match = kind == UPGRADE_SOCKET_CLAIM ? listen_claim_is(s->fd, a)
                                                  : listen_socket_is(s->fd, a);
        if (match) {
            int fd = s->fd;
            s->fd = -1;
            return fd;
        }
    }
    return -1;
}

int upgrade_client_commit(struct upgrade_client *c, struct cg_errbuf *err)
{
    if (send_wire(c->fd, WIRE_TAKEN, 0, 0, NULL, -1) != 0) {
        return cg_errf(err, CG_ERR_IO, "--upgrade: telling pid %ld to drain: %s",
                       (long)c->old_pid, strerror(errno));
    }
    struct wire w;
    int passed;
    int rc = expect(c, WIRE_BYE, &w, &passed, err);
    if (passed >= 0) {
        close(passed);
    }
    return rc;
}

void upgrade_client_free(struct upgrade_client *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->num_socks; i++) {
        if (c->socks[i].fd >= 0) {
            close(c->socks[i].fd);
        }
    }
    free(c->socks);
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c);
}
