/* Wall-clock timestamps (common/clock.h has the monotonic clock): RFC 3339 text to and
 * from seconds since the epoch, and X.509 validity times (UTCTime, GeneralizedTime) to
 * seconds. Every time certgate prints or reads goes through here: the log, JSON lines,
 * certificate expiry, the policy's "expires". All in UTC; nothing here allocates. */
#ifndef CG_COMMON_TIMESTAMP_H
#define CG_COMMON_TIMESTAMP_H

#include <time.h>

#include "common/boringssl.h"
#include "common/str.h"

#include <openssl/asn1.h>

/* How many digits of the second a formatted timestamp carries. */
enum cg_timestamp_precision {
    CG_TIMESTAMP_SECONDS = 0, /* "2031-11-24T00:00:00Z": expiry, certificates */
    CG_TIMESTAMP_MILLIS = 3,  /* "2031-11-24T00:00:00.123Z": the log */
    CG_TIMESTAMP_MICROS = 6,  /* "2031-11-24T00:00:00.123456Z": JSON lines */
};

/* CG_TIMESTAMP_LEN is the length of a timestamp of precision |p| (no NUL). */
#define CG_TIMESTAMP_LEN(p) (20 + ((p) > 0 ? 1 + (p) : 0))

/* CG_TIMESTAMP_RFC3339_SIZE holds a NUL-terminated timestamp in seconds. */
#define CG_TIMESTAMP_RFC3339_SIZE (CG_TIMESTAMP_LEN(CG_TIMESTAMP_SECONDS) + 1)

/* cg_timestamp_format writes |ts| in UTC as RFC 3339 with |precision| digits of the
 * second (truncated) and a 'Z', CG_TIMESTAMP_LEN(precision) bytes without a NUL, at
 * |out|, and returns the end. Years outside 0000..9999, which neither RFC 3339 nor
 * X.509 can write, are clamped to the first or last second of that range. */
char *cg_timestamp_format(char *out, const struct timespec *ts,
                          enum cg_timestamp_precision precision);

/* cg_timestamp_rfc3339 writes |t| as "2031-11-24T00:00:00Z" plus a NUL into |out|. */
void cg_timestamp_rfc3339(time_t t, char out[CG_TIMESTAMP_RFC3339_SIZE]);

/* cg_timestamp_parse_rfc3339 reads an RFC 3339 date-time (§5.6):
 * "YYYY-MM-DDTHH:MM:SS", optional fractional seconds ".d..." (any number of digits,
 * dropped: the result is the whole second at or before the time), and "Z" or an offset
 * "+hh:mm" / "-hh:mm"; 'T' and 'Z' in either case. The date must exist (February 29
 * only in leap years); a leap second (":60") counts as ":59". Sets |*out| to the
 * seconds since the epoch and returns CG_OK, or returns CG_ERR_INVALID and leaves
 * |*out| alone. */
int cg_timestamp_parse_rfc3339(struct cg_str text, time_t *out);

/* cg_timestamp_from_asn1 converts the X.509 time |t| (UTCTime, years 1950..2049, or
 * GeneralizedTime) to seconds since the epoch. It returns CG_OK, or CG_ERR_INVALID
 * with |*out| set to 0 when |t| is NULL or malformed. Thread-safe; allocates
 * nothing. */
int cg_timestamp_from_asn1(const ASN1_TIME *t, time_t *out);

#endif
