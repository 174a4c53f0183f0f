/* struct h2_fields: an owned list of header fields (see proxy/http2_stream.h). */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "proxy/http2_stream.h"

static size_t put(struct h2_fields *f, const char *p, size_t len, bool lower)
{
    if (f->len + len + 1 > f->buf_cap) {
        size_t cap = f->buf_cap ? f->buf_cap : 512;
        while (cap < f->len + len + 1) {
            cap *= 2;
        }
        f->buf = cg_xrealloc(f->buf, cap);
        f->buf_cap = cap;
    }
    size_t off = f->len;
    for (size_t i = 0; i < len; i++) {
        f->buf[off + i] = lower ? cg_ascii_lower(p[i]) : p[i];
    }
    f->buf[off + len] = '\0';
    f->len += len + 1;
    return off;
}

void h2_fields_add(struct h2_fields *f, const char *name, size_t name_len, const char *value,
                   size_t value_len, bool lower)
{
    if (f->num == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->nv = cg_xrealloc(f->nv, f->cap * sizeof(*f->nv));
    }
    nghttp2_nv *nv = &f->nv[f->num++];
    /* Offsets until h2_fields_finish: the buffer may move while the list grows. */
    nv->name = (uint8_t *)(uintptr_t)put(f, name, name_len, lower);
    nv->namelen = name_len;
    nv->value = (uint8_t *)(uintptr_t)put(f, value, value_len, false);
    nv->valuelen = value_len;
    nv->flags = NGHTTP2_NV_FLAG_NONE;
    f->finished = false;
}

void h2_fields_finish(struct h2_fields *f)
{
    if (f->finished) {
        return;
    }
    /* Entries added since the last finish still hold offsets; earlier ones pointers
     * into a buffer that may have moved: recompute all from the lengths. */
    size_t off = 0;
    for (size_t i = 0; i < f->num; i++) {
        f->nv[i].name = (uint8_t *)f->buf + off;
        off += f->nv[i].namelen + 1;
        f->nv[i].value = (uint8_t *)f->buf + off;
        off += f->nv[i].valuelen + 1;
    }
    f->finished = true;
}

const nghttp2_nv *h2_fields_find(struct h2_fields *f, const char *name)
{
    h2_fields_finish(f);
    size_t len = strlen(name);
    for (size_t i = 0; i < f->num; i++) {
        if (f->nv[i].namelen == len && memcmp(f->nv[i].name, name, len) == 0) {
            return &f->nv[i];
        }
    }
    return NULL;
}

void h2_fields_clear(struct h2_fields *f)
{
    f->num = 0;
    f->len = 0;
    f->finished = false;
}

void h2_fields_cleanup(struct h2_fields *f)
{
    free(f->nv);
    free(f->buf);
    memset(f, 0, sizeof(*f));
}
