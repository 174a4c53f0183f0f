#include "common/http_status.h"

#include <stddef.h>

/* The codes with a slot of their own, ascending (binary search). */
static const struct {
    int code;
    unsigned slot;
} own[] = {
#define X(code) {code, CG_HTTP_STATUS_SLOT_##code},
    CG_HTTP_STATUS_CODES
#undef X
};

unsigned cg_http_status_slot(int status)
{
    if (status == 0) {
        return CG_HTTP_STATUS_SLOT_NONE;
    }
    if (status < 100 || status > 599) {
        return CG_HTTP_STATUS_SLOT_OTHER;
    }
    /* The common answers first: one comparison for a 200. */
    if (status == 200) {
        return CG_HTTP_STATUS_SLOT_200;
    }
    size_t lo = 0, hi = sizeof(own) / sizeof(own[0]);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (own[mid].code == status) {
            return own[mid].slot;
        }
        if (own[mid].code < status) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return CG_HTTP_STATUS_SLOT_1XX + (unsigned)(status / 100 - 1);
}

const char *cg_http_status_label(unsigned slot)
{
    static const char *const labels[CG_HTTP_STATUS_NUM_SLOTS] = {
        [CG_HTTP_STATUS_SLOT_NONE] = "0",
#define X(code) [CG_HTTP_STATUS_SLOT_##code] = #code,
        CG_HTTP_STATUS_CODES
#undef X
        [CG_HTTP_STATUS_SLOT_1XX] = "1xx",
        [CG_HTTP_STATUS_SLOT_2XX] = "2xx",
        [CG_HTTP_STATUS_SLOT_3XX] = "3xx",
        [CG_HTTP_STATUS_SLOT_4XX] = "4xx",
        [CG_HTTP_STATUS_SLOT_5XX] = "5xx",
        [CG_HTTP_STATUS_SLOT_OTHER] = "other",
    };
    return slot < CG_HTTP_STATUS_NUM_SLOTS ? labels[slot] : "other";
}
