#include "common/sockaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

void cg_sockaddr_text(const struct sockaddr *sa, char out[CG_SOCKADDR_TEXT_MAX])
{
    out[0] = '\0';
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, CG_SOCKADDR_TEXT_MAX);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            inet_ntop(AF_INET, &a6->s6_addr[12], out, CG_SOCKADDR_TEXT_MAX);
        } else {
            inet_ntop(AF_INET6, a6, out, CG_SOCKADDR_TEXT_MAX);
        }
    }
}

uint16_t cg_sockaddr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    }
    if (sa->sa_family == AF_INET6) {
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    }
    return 0;
}
