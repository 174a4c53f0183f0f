#include "common/timestamp.h"

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

#include <openssl/err.h>

static char *put_digits(char *out, unsigned v, int digits)
{
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return out + digits;
}

char *cg_timestamp_format(char *out, const struct timespec *ts,
                          enum cg_timestamp_precision precision)
{
    struct tm tm;
    long nsec = ts->tv_nsec;
    if (gmtime_r(&ts->tv_sec, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
        bool past = ts->tv_sec < 0;
        tm = (struct tm){.tm_year = past ? -1900 : 9999 - 1900,
                         .tm_mon = past ? 0 : 11,
                         .tm_mday = past ? 1 : 31,
                         .tm_hour = past ? 0 : 23,
                         .tm_min = past ? 0 : 59,
                         .tm_sec = past ? 0 : 59};
        nsec = past ? 0 : 999999999;
    }
    char *p = put_digits(out, (unsigned)(tm.tm_year + 1900), 4);
    *p++ = '-';
    p = put_digits(p, (unsigned)(tm.tm_mon + 1), 2);
    *p++ = '-';
    p = put_digits(p, (unsigned)tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, (unsigned)tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)tm.tm_sec, 2);
    if (precision > 0) {
        unsigned frac = (unsigned)(nsec < 0 ? 0 : nsec);
        for (int i = precision; i < 9; i++) {
            frac /= 10;
        }
        *p++ = '.';
        p = put_digits(p, frac, (int)precision);
    }
    *p++ = 'Z';
    return p;
}

void cg_timestamp_rfc3339(time_t t, char out[CG_TIMESTAMP_RFC3339_SIZE])
{
    struct timespec ts = {.tv_sec = t, .tv_nsec = 0};
    *cg_timestamp_format(out, &ts, CG_TIMESTAMP_SECONDS) = '\0';
}

/* number reads |n| decimal digits at |s|; false unless all of them are digits. */
static bool number(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int cg_timestamp_parse_rfc3339(struct cg_str text, time_t *out)
{
    /* The fixed-width part is read by hand: strptime's %m, %d and %H take one digit as
     * well as two and skip leading spaces, which RFC 3339 does not allow. timegm does
     * the calendar; what it would normalize ("02-30" into March) is refused below. */
    const char *s = text.p;
    int y, mo, d, h, mi, sec;
    if (text.len < 20 || !number(s, 4, &y) || s[4] != '-' || !number(s + 5, 2, &mo) ||
        s[7] != '-' || !number(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !number(s + 11, 2, &h) || s[13] != ':' || !number(s + 14, 2, &mi) || s[16] != ':' ||
        !number(s + 17, 2, &sec)) {
        return CG_ERR_INVALID;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        return CG_ERR_INVALID;
    }
    size_t i = 19;
    if (s[i] == '.') {
        size_t first = ++i;
        while (i < text.len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        if (i == first) {
            return CG_ERR_INVALID;
        }
    }
    int offset = 0; /* seconds east of UTC */
    if (i < text.len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < text.len && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (text.len - i < 6 || !number(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            !number(s + i + 4, 2, &om) || oh > 23 || om > 59) {
            return CG_ERR_INVALID;
        }
        offset = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return CG_ERR_INVALID;
    }
    if (i != text.len) {
        return CG_ERR_INVALID;
    }
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec == 60 ? 59 : sec}; /* a leap second: close enough */
    time_t t = timegm(&tm);
    if (tm.tm_mday != d || tm.tm_mon != mo - 1) {
        return CG_ERR_INVALID; /* a day the month does not have */
    }
    *out = t - offset;
    return CG_OK;
}

int cg_timestamp_from_asn1(const ASN1_TIME *t, time_t *out)
{
    /* BoringSSL has no ASN1_TIME_to_posix (nor ASN1_TIME_to_tm): the difference from a
     * constant epoch, which ASN1_TIME_diff only reads, gives the same without
     * allocating one per call. */
    static unsigned char epoch_text[] = "700101000000Z";
    static const ASN1_TIME epoch = {
        .length = sizeof(epoch_text) - 1, .type = V_ASN1_UTCTIME, .data = epoch_text};
    int days = 0, secs = 0;
    *out = 0;
    if (t == NULL || !ASN1_TIME_diff(&days, &secs, &epoch, t)) {
        ERR_clear_error();
        return CG_ERR_INVALID;
    }
    *out = (time_t)days * 86400 + secs;
    return CG_OK;
}
