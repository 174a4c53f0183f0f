#include "common/err.h"

#include <stdio.h>
#include <string.h>

#include "common/boringssl.h"

#include <openssl/err.h>

__attribute__((format(printf, 2, 0))) static void vset(struct cg_errbuf *err, const char *fmt,
                                                       va_list ap)
{
    if (err == NULL || err->msg[0] != '\0') {
        return;
    }
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int cg_errf(struct cg_errbuf *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(err, fmt, ap);
    va_end(ap);
    return code;
}

int cg_errf_crypto(struct cg_errbuf *err, int code, const char *fmt, ...)
{
    char reason[160] = "";
    uint32_t e = ERR_get_error();
    if (e != 0) {
        ERR_error_string_n(e, reason, sizeof(reason));
    }
    ERR_clear_error();
    if (err == NULL || err->msg[0] != '\0') {
        return code;
    }
    va_list ap;
    va_start(ap, fmt);
    vset(err, fmt, ap);
    va_end(ap);
    if (reason[0] != '\0') {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof(err->msg) - n, " (%s)", reason);
    }
    return code;
}
