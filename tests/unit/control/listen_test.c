/* Tests for control/listen.c: a claim is exclusive and listens for a binary upgrade,
 * connecting to it tells "nobody holds it" from "its holder cannot hand over", and a
 * socket is recognized as the listener or the claim of exactly one address. */
#include "check_main.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/listen.h"

/* free_port returns a TCP port nothing listens on at the moment. */
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

static struct config_address addr4(unsigned port, char *text, size_t text_len)
{
    struct config_address a = {.text = text, .addr_len = sizeof(struct sockaddr_in)};
    struct sockaddr_in *sin = (struct sockaddr_in *)&a.addr;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    snprintf(text, text_len, "127.0.0.1:%u", port);
    return a;
}

static struct config_address addr6(unsigned port, char *text, size_t text_len)
{
    struct config_address a = {.text = text, .addr_len = sizeof(struct sockaddr_in6)};
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.addr;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    sin6->sin6_addr = in6addr_loopback;
    snprintf(text, text_len, "[::1]:%u", port);
    return a;
}

START_TEST(test_claim_is_exclusive_and_accepts)
{
    char t[64];
    struct config_address a = addr4(free_port(), t, sizeof(t));
    struct cg_errbuf err = {0};
    int claim;
    ck_assert_int_eq(listen_claim(&a, &claim, &err), CG_OK);
    ck_assert(listen_claim_is(claim, &a));

    int again;
    ck_assert_int_eq(listen_claim(&a, &again, &err), CG_ERR_EXISTS);
    ck_assert_ptr_nonnull(strstr(err.msg, "already in use by another certgate process"));

    /* A later process reaches the holder through the claim. */
    int conn;
    struct cg_errbuf err2 = {0};
    ck_assert_int_eq(listen_claim_connect(&a, 1000, &conn, &err2), CG_OK);
    int peer = accept(claim, NULL, NULL);
    ck_assert_int_ge(peer, 0);
    close(peer);
    close(conn);
    close(claim);

    /* Released with its last descriptor: nobody holds it now. */
    struct cg_errbuf err3 = {0};
    ck_assert_int_eq(listen_claim_connect(&a, 1000, &conn, &err3), CG_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err3.msg, t));
    ck_assert_ptr_nonnull(strstr(err3.msg, "no certgate holds it"));
}
END_TEST

START_TEST(test_claim_held_without_listening)
{
    /* What a certgate from before binary upgrades holds: the name, bound, not listening. */
    unsigned port = free_port();
    char t[64];
    struct config_address a = addr4(port, t, sizeof(t));
    int old = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    int n = snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "certgate/listen/tcp4/127.0.0.1:%u",
                     port);
    ck_assert_int_eq(
        bind(old, (struct sockaddr *)&un, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)),
        0);
    struct cg_errbuf err = {0};
    int conn;
    ck_assert_int_eq(listen_claim_connect(&a, 1000, &conn, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot hand its sockets over"));
    ck_assert(!listen_claim_is(old, &a)); /* not listening: not a claim of ours */
    close(old);
}
END_TEST

START_TEST(test_socket_is_exactly_its_address)
{
    unsigned port = free_port();
    char t4[64], t6[64], to[64];
    struct config_address a4 = addr4(port, t4, sizeof(t4));
    struct config_address a6 = addr6(port, t6, sizeof(t6));
    struct config_address other = addr4(free_port(), to, sizeof(to));
    struct cg_errbuf err = {0};
    int fd4, fd6, claim;
    ck_assert_int_eq(listen_socket_open(&a4, true, "listen", &fd4, &err), CG_OK);
    ck_assert_int_eq(listen_socket_open(&a6, true, "listen", &fd6, &err), CG_OK);
    ck_assert_int_eq(listen_claim(&other, &claim, &err), CG_OK);

    ck_assert(listen_socket_is(fd4, &a4));
    ck_assert(!listen_socket_is(fd4, &a6)); /* same port, other family */
    ck_assert(!listen_socket_is(fd4, &other));
    ck_assert(listen_socket_is(fd6, &a6));
    ck_assert(!listen_socket_is(fd6, &a4));
    ck_assert(!listen_socket_is(claim, &other)); /* a Unix socket */
    ck_assert(!listen_claim_is(fd4, &a4));        /* a TCP socket */
    ck_assert(!listen_claim_is(claim, &a4));      /* the claim of another address */
    ck_assert(listen_claim_is(claim, &other));

    /* Bound to the address but not listening. */
    int quiet = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(quiet, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    ck_assert_int_eq(bind(quiet, (struct sockaddr *)&a4.addr, a4.addr_len), 0);
    ck_assert(!listen_socket_is(quiet, &a4));
    ck_assert(!listen_socket_is(-1, &a4));
    close(quiet);
    close(fd4);
    close(fd6);
    close(claim);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("listen");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_claim_is_exclusive_and_accepts);
    tcase_add_test(tc, test_claim_held_without_listening);
    tcase_add_test(tc, test_socket_is_exactly_its_address);
    suite_add_tcase(s, tc);
    return s;
}
