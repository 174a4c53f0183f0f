/* Error codes shared by every module: functions return 0 or a negative enum cg_err
 * (docs/contributing.md), never a count mixed with an error. */
#ifndef CG_COMMON_ERR_H
#define CG_COMMON_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum cg_err {
    CG_OK = 0,
    CG_ERR_INVALID = -1,   /* malformed input: the error buffer says what and where */
    CG_ERR_IO = -2,        /* a system call failed: errno-derived text in the buffer */
    CG_ERR_NOT_FOUND = -3, /* a named thing does not exist */
    CG_ERR_EXISTS = -4,    /* a thing that must be unique already exists */
    CG_ERR_CRYPTO = -5,    /* BoringSSL refused: its reason is in the buffer */
    CG_ERR_LIMIT = -6,     /* a configured limit was reached */
};

/* struct cg_errbuf carries one human-readable line describing the first error.
 * An all-zero buffer is empty. */
struct cg_errbuf {
    char msg[512];
};

/* cg_errf formats into |err| (if not NULL) and returns |code|, so that callers can
 * write `return cg_errf(err, CG_ERR_INVALID, "...")`. An earlier message is kept:
 * the first error is the one worth reporting. */
int cg_errf(struct cg_errbuf *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* cg_errf_crypto is cg_errf with BoringSSL's pending error reason appended (and the
 * BoringSSL error queue cleared). */
int cg_errf_crypto(struct cg_errbuf *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
