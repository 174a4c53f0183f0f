/* Reading past libevent 2.1's 4 KiB per-read cap on a socket bufferevent. */
#ifndef CG_PROXY_BEV_READ_H
#define CG_PROXY_BEV_READ_H

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

/* bev_read_more tops up |bev|'s input with one readv when libevent's own read filled
 * its 4 KiB, until |max| bytes are buffered. Call it first thing in the read callback.
 * The socket bufferevent keeps its input frozen outside its own reads; this unfreezes
 * it around the read. */
void bev_read_more(struct bufferevent *bev, size_t max);

#endif
