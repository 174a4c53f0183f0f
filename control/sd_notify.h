/* State notifications to the service manager: systemd's sd_notify protocol
 * (sd_notify(3)), without libsystemd. Under `Type=notify` systemd sets $NOTIFY_SOCKET
 * to an AF_UNIX datagram socket (a path, or an abstract name written with a leading
 * '@'), and each state change is one datagram of newline-separated KEY=VALUE lines.
 * Without $NOTIFY_SOCKET (a shell, a container, a test) every call is a no-op. */
#ifndef CG_CONTROL_SD_NOTIFY_H
#define CG_CONTROL_SD_NOTIFY_H

#include <sys/types.h>

#include "common/err.h"

/* cg_sd_notify sends |state| (e.g. "READY=1\nSTATUS=serving") as one datagram to the
 * socket $NOTIFY_SOCKET names. Returns CG_OK once sent, and also when $NOTIFY_SOCKET is
 * unset or empty; CG_ERR_INVALID when it names neither an absolute path nor an '@'
 * abstract name, or a name too long for a socket address; CG_ERR_IO when the socket
 * cannot be created or the datagram not sent (nobody listening). */
int cg_sd_notify(const char *state, struct cg_errbuf *err);

/* cg_sd_notify_ready tells the manager that certgate serves: every listener accepts,
 * or a reload is over. Like the two below, a failure is logged as a warning and
 * otherwise ignored: the proxy serves whether or not its manager hears about it. */
void cg_sd_notify_ready(void);

/* cg_sd_notify_reloading tells the manager that a reload (SIGHUP) begins, with the
 * CLOCK_MONOTONIC time systemd uses to match it to `systemctl reload`; send
 * cg_sd_notify_ready when it is over, whatever its outcome. */
void cg_sd_notify_reloading(void);

/* cg_sd_notify_stopping tells the manager that certgate drains and will exit. */
void cg_sd_notify_stopping(void);

/* cg_sd_notify_mainpid tells the manager that process |pid| (a binary upgrade's new
 * process, control/upgrade.h) is the service's main process from now on, while this one
 * drains. Only the current main process may say so under NotifyAccess=main; the new one
 * then reports READY=1 itself. */
void cg_sd_notify_mainpid(pid_t pid);

#endif
