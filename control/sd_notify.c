#include "control/sd_notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

int cg_sd_notify(const char *state, struct cg_errbuf *err)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (name == NULL || name[0] == '\0') {
        return CG_OK;
    }
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t name_len = strlen(name);
    if (name[0] != '/' && name[0] != '@') {
        return cg_errf(err, CG_ERR_INVALID,
                       "NOTIFY_SOCKET=%s: neither an absolute path nor an @abstract name", name);
    }
    /* A path needs its terminating NUL inside sun_path; an abstract name does not. */
    if (name_len >= sizeof(sun.sun_path) + (name[0] == '@')) {
        return cg_errf(err, CG_ERR_INVALID, "NOTIFY_SOCKET=%s: name too long", name);
    }
    memcpy(sun.sun_path, name, name_len);
    socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + name_len);
    if (name[0] == '@') {
        sun.sun_path[0] = '\0'; /* Linux abstract namespace: the length delimits the name */
    } else {
        addr_len += 1;
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return cg_errf(err, CG_ERR_IO, "NOTIFY_SOCKET: socket: %s", strerror(errno));
    }
    int rc = CG_OK;
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&sun,
                       addr_len);
    if (n < 0) {
        rc = cg_errf(err, CG_ERR_IO, "NOTIFY_SOCKET=%s: %s", name, strerror(errno));
    }
    close(fd);
    return rc;
}

static void notify(const char *state)
{
    struct cg_errbuf err = {0};
    if (cg_sd_notify(state, &err) != CG_OK) {
        CG_LOG_WARN("cannot notify the service manager: %s", err.msg);
    }
}

void cg_sd_notify_ready(void)
{
    notify("READY=1\nSTATUS=serving");
}

void cg_sd_notify_reloading(void)
{
    char state[96];
    snprintf(state, sizeof(state), "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%" PRIu64,
             cg_monotonic_us());
    notify(state);
}

void cg_sd_notify_stopping(void)
{
    notify("STOPPING=1\nSTATUS=draining");
}

void cg_sd_notify_mainpid(pid_t pid)
{
    char state[96];
    snprintf(state, sizeof(state), "MAINPID=%ld\nSTATUS=draining; pid %ld serves", (long)pid,
             (long)pid);
    notify(state);
}
