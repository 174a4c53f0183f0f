/* Socket addresses as people read them: the numeric text and the port that logs,
 * forwarded headers and error messages show. */
#ifndef CG_COMMON_SOCKADDR_H
#define CG_COMMON_SOCKADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Large enough for any IPv6 text (INET6_ADDRSTRLEN is 46). */
#define CG_SOCKADDR_TEXT_MAX 48

/* cg_sockaddr_text writes the numeric address of |sa| (AF_INET or AF_INET6) into
 * |out|; an IPv4-mapped IPv6 address is shown as IPv4, as the client sees itself.
 * Any other family gives "". */
void cg_sockaddr_text(const struct sockaddr *sa, char out[CG_SOCKADDR_TEXT_MAX]);

/* cg_sockaddr_port returns the port of |sa| in host order, 0 for other families. */
uint16_t cg_sockaddr_port(const struct sockaddr *sa);

#endif
