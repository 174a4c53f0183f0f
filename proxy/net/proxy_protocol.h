/* PROXY protocol v1 (text) and v2 (binary) header parsing (HAProxy's specification):
 * how a load balancer in front of certgate tells it the client's real address. Pure:
 * bytes in, result out. The listener accepts it only from configured peers
 * (listeners[].proxy_protocol.from); for them the header is mandatory. */
#ifndef CG_PROXY_NET_PROXY_PROTOCOL_H
#define CG_PROXY_NET_PROXY_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* The longest header accepted: v1 is at most 107 bytes; v2 TLVs beyond this are
 * refused rather than buffered. */
#define PP_MAX_HEADER 1024

enum pp_result {
    PP_INCOMPLETE = 0, /* no error so far, more bytes needed */
    PP_ERROR = -1,     /* not a valid PROXY header */
};

/* struct pp_header is a parsed header. */
struct pp_header {
    bool has_address;            /* false for v1 UNKNOWN and v2 LOCAL / UNSPEC: keep
                                    the connection's own peer address */
    struct sockaddr_storage src; /* the client's address and port when has_address */
    socklen_t src_len;
};

/* pp_parse parses a PROXY header at the start of buf[0..len). It returns the header's
 * length (> 0) and fills |out|, or PP_INCOMPLETE, or PP_ERROR. */
int pp_parse(const unsigned char *buf, size_t len, struct pp_header *out);

#endif
