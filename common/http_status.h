/* A bounded set of HTTP status codes for metric labels: the codes a proxy in front of a
 * database commonly sends each have a slot of their own, every other code counts in the
 * slot of its class ("4xx"), and 0 (no response was sent: the client went away first)
 * has one too. Per-worker counter arrays are indexed by slot, so what a database or a
 * client can make certgate count stays a fixed, small set of series. */
#ifndef CG_COMMON_HTTP_STATUS_H
#define CG_COMMON_HTTP_STATUS_H

/* X(code): the codes with a slot of their own, ascending. */
#define CG_HTTP_STATUS_CODES                                                                       \
    X(101) X(200) X(201) X(202) X(204) X(206) X(301) X(302) X(304) X(307) X(308) X(400) X(401)    \
        X(403) X(404) X(405) X(408) X(409) X(411) X(412) X(413) X(414) X(415) X(421) X(429)       \
        X(431) X(500) X(501) X(502) X(503) X(504)

enum {
    CG_HTTP_STATUS_SLOT_NONE = 0, /* no response: label "0" */
#define X(code) CG_HTTP_STATUS_SLOT_##code,
    CG_HTTP_STATUS_CODES
#undef X
    CG_HTTP_STATUS_SLOT_1XX, /* any other code, by class: "1xx" .. "5xx" */
    CG_HTTP_STATUS_SLOT_2XX,
    CG_HTTP_STATUS_SLOT_3XX,
    CG_HTTP_STATUS_SLOT_4XX,
    CG_HTTP_STATUS_SLOT_5XX,
    CG_HTTP_STATUS_SLOT_OTHER, /* outside 100-599 (a database's odd status): "other" */
    CG_HTTP_STATUS_NUM_SLOTS
};

/* cg_http_status_slot returns the slot that counts |status|. */
unsigned cg_http_status_slot(int status);

/* cg_http_status_label returns the label value of |slot| ("200", "4xx", "0", "other");
 * static storage, "other" out of range. */
const char *cg_http_status_label(unsigned slot);

#endif
