/* Automatic renewal of certgate's own serving certificates (docs/certificates.md): when the
 * state directory holds the private CA that issued a listener's certificate, or a host
 * entry's own, the main thread renews that certificate at two thirds of its lifetime,
 * writes the files atomically and reloads them like any other rotation. */
#ifndef CG_CONTROL_RENEWER_H
#define CG_CONTROL_RENEWER_H

#include <event2/event.h>

struct runtime;
struct reloader;
struct renewer;

/* renewer_new starts watching expiry; returns NULL (renewal off, logged) when there is
 * no state_dir or no CA in it. */
struct renewer *renewer_new(struct runtime *rt, struct event_base *base, struct reloader *rl);

/* renewer_free stops it. NULL is a no-op. */
void renewer_free(struct renewer *r);

#endif
