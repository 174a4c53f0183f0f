/* Tests for common/sd_notify.c: the datagrams systemd's notify socket receives, path and
 * abstract addresses, the no-op without $NOTIFY_SOCKET, and the addresses refused. */
#include "check_main.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "control/sd_notify.h"

/* bind_dgram binds an AF_UNIX datagram socket to |name| as $NOTIFY_SOCKET spells it
 * ('@' for an abstract name) and returns it. */
static int bind_dgram(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    ck_assert_uint_le(len, sizeof(sun.sun_path));
    memcpy(sun.sun_path, name, len);
    if (name[0] == '@') {
        sun.sun_path[0] = '\0';
    }
    socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, addr_len), 0);
    return fd;
}

/* recv_text returns the next datagram on |fd| (waiting at most 5 s) as a string. */
static void recv_text(int fd, char *out, size_t out_len)
{
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n = recv(fd, out, out_len - 1, 0);
    ck_assert_int_ge(n, 0);
    out[n] = '\0';
}

static char tmpdir[64];

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cg-sd-notify-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/notify", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    unsetenv("NOTIFY_SOCKET");
}

START_TEST(test_path_socket_receives_each_state)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/notify", tmpdir);
    int fd = bind_dgram(path);
    setenv("NOTIFY_SOCKET", path, 1);
    char buf[256];
    struct cg_errbuf err = {0};
    ck_assert_int_eq(cg_sd_notify("X=1\nY=2", &err), CG_OK);
    recv_text(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "X=1\nY=2");
    cg_sd_notify_ready();
    recv_text(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "READY=1\nSTATUS=serving");
    cg_sd_notify_stopping();
    recv_text(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "STOPPING=1\nSTATUS=draining");
    cg_sd_notify_mainpid(4242);
    recv_text(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "MAINPID=4242\nSTATUS=draining; pid 4242 serves");

    /* RELOADING=1 carries the CLOCK_MONOTONIC time of the reload, in microseconds. */
    uint64_t before = cg_monotonic_us();
    cg_sd_notify_reloading();
    uint64_t after = cg_monotonic_us();
    recv_text(fd, buf, sizeof(buf));
    const char *prefix = "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=";
    ck_assert_int_eq(strncmp(buf, prefix, strlen(prefix)), 0);
    char *end;
    uint64_t usec = strtoull(buf + strlen(prefix), &end, 10);
    ck_assert_int_eq(*end, '\0');
    ck_assert_uint_ge(usec, before);
    ck_assert_uint_le(usec, after);
    close(fd);
}
END_TEST

START_TEST(test_abstract_socket)
{
    char name[64];
    snprintf(name, sizeof(name), "@certgate-sd-notify-test-%d", (int)getpid());
    int fd = bind_dgram(name);
    setenv("NOTIFY_SOCKET", name, 1);
    struct cg_errbuf err = {0};
    ck_assert_int_eq(cg_sd_notify("READY=1", &err), CG_OK);
    char buf[64];
    recv_text(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "READY=1");
    close(fd);
}
END_TEST

START_TEST(test_abstract_name_fills_sun_path)
{
    /* An abstract name may use all of sun_path (no terminating NUL); one more byte is
     * refused rather than truncated into another socket's name. */
    struct sockaddr_un sun;
    char name[sizeof(sun.sun_path) + 2];
    int prefix = snprintf(name, sizeof(name), "@cg-%d-", (int)getpid());
    memset(name + prefix, 'x', sizeof(sun.sun_path) - (size_t)prefix);
    name[sizeof(sun.sun_path)] = '\0';
    int fd = bind_dgram(name);
    setenv("NOTIFY_SOCKET", name, 1);
    struct cg_errbuf err = {0};
    ck_assert_int_eq(cg_sd_notify("READY=1", &err), CG_OK);
    char buf[64];
    recv_text(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "READY=1");
    close(fd);

    name[sizeof(sun.sun_path)] = 'x';
    name[sizeof(sun.sun_path) + 1] = '\0';
    setenv("NOTIFY_SOCKET", name, 1);
    ck_assert_int_eq(cg_sd_notify("READY=1", &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "too long"));
}
END_TEST

START_TEST(test_path_too_long)
{
    /* A path needs room for its NUL: 108 characters do not fit sun_path[108]. */
    struct sockaddr_un sun;
    char name[sizeof(sun.sun_path) + 1];
    memset(name, 'a', sizeof(name) - 1);
    name[0] = '/';
    name[sizeof(name) - 1] = '\0';
    setenv("NOTIFY_SOCKET", name, 1);
    struct cg_errbuf err = {0};
    ck_assert_int_eq(cg_sd_notify("READY=1", &err), CG_ERR_INVALID);
}
END_TEST

START_TEST(test_unset_or_empty_is_a_noop)
{
    struct cg_errbuf err = {0};
    unsetenv("NOTIFY_SOCKET");
    ck_assert_int_eq(cg_sd_notify("READY=1", &err), CG_OK);
    setenv("NOTIFY_SOCKET", "", 1);
    ck_assert_int_eq(cg_sd_notify("READY=1", &err), CG_OK);
    ck_assert_str_eq(err.msg, "");
    cg_sd_notify_ready(); /* nothing to log either */
}
END_TEST

START_TEST(test_relative_path_refused)
{
    struct cg_errbuf err = {0};
    setenv("NOTIFY_SOCKET", "run/notify", 1);
    ck_assert_int_eq(cg_sd_notify("READY=1", &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "run/notify"));
}
END_TEST

START_TEST(test_nobody_listening_is_io_error)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/absent", tmpdir);
    setenv("NOTIFY_SOCKET", path, 1);
    struct cg_errbuf err = {0};
    ck_assert_int_eq(cg_sd_notify("READY=1", &err), CG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    cg_sd_notify_stopping(); /* logged, not fatal */
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("sd_notify");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_path_socket_receives_each_state);
    tcase_add_test(tc, test_abstract_socket);
    tcase_add_test(tc, test_abstract_name_fills_sun_path);
    tcase_add_test(tc, test_path_too_long);
    tcase_add_test(tc, test_unset_or_empty_is_a_noop);
    tcase_add_test(tc, test_relative_path_refused);
    tcase_add_test(tc, test_nobody_listening_is_io_error);
    suite_add_tcase(s, tc);
    return s;
}
