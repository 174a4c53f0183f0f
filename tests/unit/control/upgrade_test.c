/* Tests for control/upgrade.c, both ends in one process (the server's loop on a thread
 * of its own): the sockets handed over are the very sockets offered, each taken once and
 * only for its address; the old side commits only on TAKEN; a refusal and an upgrade in
 * progress are clear errors; nothing to take over is CG_ERR_NOT_FOUND; SIGUSR2's spawn
 * runs the command line with --upgrade once and an empty signal mask. */
#include "check_main.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "control/listen.h"
#include "control/upgrade.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

/* The running process: one address with its claim and one listening socket. */
static char text[64];
static struct config_address addr;
static struct config_listener listener;
static struct config cfg;
static int claim = -1, tcp = -1;
static struct upgrade_socket offer[2];
static struct event_base *base;
static struct upgrade_server *server;
static atomic_uint_fast64_t counts[UPGRADE_NUM_RESULTS];
static pthread_t loop_thread;
static atomic_long taken_pid;

static void on_taken(void *arg, pid_t pid)
{
    atomic_store(&taken_pid, (long)pid);
}

static void *run_loop(void *arg)
{
    event_base_dispatch(base);
    return NULL;
}

static void setup(void)
{
    evthread_use_pthreads();
    unsigned port = free_port();
    snprintf(text, sizeof(text), "127.0.0.1:%u", port);
    memset(&addr, 0, sizeof(addr));
    addr.text = text;
    addr.addr_len = sizeof(struct sockaddr_in);
    struct sockaddr_in *sin = (struct sockaddr_in *)&addr.addr;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listener = (struct config_listener){.addresses = &addr, .num_addresses = 1};
    cfg = (struct config){.source = (char *)"test.json", .listeners = &listener, .num_listeners = 1};
    struct cg_errbuf err = {0};
    ck_assert_int_eq(listen_claim(&addr, &claim, &err), CG_OK);
    ck_assert_int_eq(listen_socket_open(&addr, true, "listen", &tcp, &err), CG_OK);
    offer[0] = (struct upgrade_socket){UPGRADE_SOCKET_LISTEN, tcp};
    offer[1] = (struct upgrade_socket){UPGRADE_SOCKET_CLAIM, claim};
    atomic_store(&taken_pid, 0);
    base = event_base_new();
    memset(counts, 0, sizeof(counts));
    server = upgrade_server_new(base, &claim, 1, offer, 2, on_taken, NULL, counts);
}

static void start_loop(void)
{
    ck_assert_int_eq(pthread_create(&loop_thread, NULL, run_loop, NULL), 0);
}

static void teardown(void)
{
    event_base_loopexit(base, NULL);
    pthread_join(loop_thread, NULL);
    upgrade_server_free(server);
    event_base_free(base);
    close(claim);
    close(tcp);
}

static uint64_t cookie(int fd)
{
    uint64_t c = 0;
    socklen_t len = sizeof(c);
    ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len), 0);
    return c;
}

START_TEST(test_hand_over)
{
    start_loop();
    struct upgrade_client *c = NULL;
    struct cg_errbuf err = {0};
    ck_assert_msg(upgrade_client_connect(&cfg, &c, &err) == CG_OK, "%s", err.msg);
    ck_assert_int_eq(c->old_pid, getpid());
    ck_assert_uint_eq(c->num_socks, 2);

    /* The same sockets, not copies: the accept queues travel with them. */
    int fd = upgrade_client_take(c, UPGRADE_SOCKET_LISTEN, &addr);
    ck_assert_int_ge(fd, 0);
    ck_assert_uint_eq(cookie(fd), cookie(tcp));
    ck_assert_int_eq(upgrade_client_take(c, UPGRADE_SOCKET_LISTEN, &addr), -1);
    ck_assert_int_eq(upgrade_client_take(c, UPGRADE_SOCKET_ADMIN, &addr), -1);
    int cl = upgrade_client_take(c, UPGRADE_SOCKET_CLAIM, &addr);
    ck_assert_int_ge(cl, 0);
    ck_assert_uint_eq(cookie(cl), cookie(claim));

    /* Nothing is committed before TAKEN. */
    ck_assert_int_eq(atomic_load(&taken_pid), 0);
    ck_assert_msg(upgrade_client_commit(c, &err) == CG_OK, "%s", err.msg);
    ck_assert_int_eq(atomic_load(&taken_pid), getpid());
    ck_assert_uint_eq(atomic_load(&counts[UPGRADE_HANDED_OVER]), 1);
    ck_assert_uint_eq(atomic_load(&counts[UPGRADE_REFUSED]), 0);
    upgrade_client_free(c);
    close(fd);
    close(cl);
}
END_TEST

START_TEST(test_refused_when_shutting_down)
{
    upgrade_server_refuse_all(server, "it is shutting down");
    start_loop();
    struct upgrade_client *c = NULL;
    struct cg_errbuf err = {0};
    ck_assert_int_eq(upgrade_client_connect(&cfg, &c, &err), CG_ERR_INVALID);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(err.msg, "refused: it is shutting down"));
    ck_assert_int_eq(atomic_load(&taken_pid), 0);
    ck_assert_uint_eq(atomic_load(&counts[UPGRADE_REFUSED]), 1);
    ck_assert_uint_eq(atomic_load(&counts[UPGRADE_HANDED_OVER]), 0);
}
END_TEST

START_TEST(test_one_upgrade_at_a_time)
{
    start_loop();
    struct upgrade_client *first = NULL, *second = NULL;
    struct cg_errbuf err = {0};
    ck_assert_msg(upgrade_client_connect(&cfg, &first, &err) == CG_OK, "%s", err.msg);
    ck_assert_int_eq(upgrade_client_connect(&cfg, &second, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "is in progress"));
    ck_assert_uint_eq(atomic_load(&counts[UPGRADE_REFUSED]), 1);
    /* The first one gives up (a bad configuration, a crash): the old process goes on
     * as if nothing happened. */
    upgrade_client_free(first);
    ck_assert_int_eq(atomic_load(&taken_pid), 0);
    ck_assert(listen_socket_is(tcp, &addr));
}
END_TEST

START_TEST(test_nothing_to_take_over)
{
    start_loop();
    char t[64];
    unsigned port = free_port();
    snprintf(t, sizeof(t), "127.0.0.1:%u", port);
    struct config_address other = addr;
    other.text = t;
    ((struct sockaddr_in *)&other.addr)->sin_port = htons((uint16_t)port);
    struct config_listener l = {.addresses = &other, .num_addresses = 1};
    struct config c2 = {.source = (char *)"other.json", .listeners = &l, .num_listeners = 1};
    struct upgrade_client *c = NULL;
    struct cg_errbuf err = {0};
    ck_assert_int_eq(upgrade_client_connect(&c2, &c, &err), CG_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, t));
    ck_assert_ptr_nonnull(strstr(err.msg, "nothing to take over"));
}
END_TEST

START_TEST(test_spawn_adds_upgrade_once_with_no_signal_blocked)
{
    start_loop();
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, &old);
    /* $* must be "x --upgrade": the --upgrade already given is not repeated; the
     * child's blocked mask (SigBlk) is empty although this thread blocks SIGTERM; and
     * a copy of the claim open here without close-on-exec is not open there. */
    int leaky = fcntl(claim, F_DUPFD, 200);
    ck_assert_int_ge(leaky, 200);
    char script[256];
    snprintf(script, sizeof(script),
             "test \"$*\" = \"x --upgrade\" && "
             "grep -q '^SigBlk:[[:space:]]*0*$' /proc/self/status && test ! -e /proc/self/fd/%d",
             leaky);
    char *argv[] = {(char *)"sh", (char *)"-c", script, (char *)"sh", (char *)"--upgrade",
                    (char *)"x", NULL};
    pid_t pid;
    struct cg_errbuf err = {0};
    ck_assert_msg(upgrade_spawn(argv, &pid, &err) == CG_OK, "%s", err.msg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(leaky);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);

    char *missing[] = {(char *)"/nonexistent/certgate", NULL};
    ck_assert_int_eq(upgrade_spawn(missing, &pid, &err), CG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/certgate"));
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("upgrade");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_hand_over);
    tcase_add_test(tc, test_refused_when_shutting_down);
    tcase_add_test(tc, test_one_upgrade_at_a_time);
    tcase_add_test(tc, test_nothing_to_take_over);
    tcase_add_test(tc, test_spawn_adds_upgrade_once_with_no_signal_blocked);
    suite_add_tcase(s, tc);
    return s;
}
