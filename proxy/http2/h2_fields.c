/* struct h2_fields: a list of header fields (see proxy/http2/h2_stream.h).
 *
 * Copied bytes go to blocks that never move once written (a full block is followed by
 * a new, larger one), so an entry needs no fix-up when the list grows and may mix
 * copied and referred bytes. */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "proxy/http2/h2_stream.h"

/* Smallest block: a typical request's fields fit in one. */
#define MIN_BLOCK 512
/* What h2_fields_recycle keeps: enough for ordinary requests, not an outlier's. */
#define RECYCLE_MAX_FIELDS 64
#define RECYCLE_MAX_BYTES 4096

struct h2_fields_block {
    struct h2_fields_block *next; /* older block */
    size_t len, cap;              /* bytes used / available in data */
    char data[];
};

/* reserve returns room for |n| bytes in the newest block, adding a block if needed. */
static char *reserve(struct h2_fields *f, size_t n)
{
    struct h2_fields_block *b = f->block;
    if (b == NULL || b->cap - b->len < n) {
        size_t cap = b != NULL ? b->cap * 2 : MIN_BLOCK;
        while (cap < n) {
            cap *= 2;
        }
        struct h2_fields_block *nb = cg_xmalloc(sizeof(*nb) + cap);
        nb->next = b;
        nb->len = 0;
        nb->cap = cap;
        f->block = b = nb;
    }
    char *p = b->data + b->len;
    b->len += n;
    return p;
}

static void copy_lower(char *dst, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        dst[i] = cg_ascii_lower(src[i]);
    }
}

void h2_fields_add_ex(struct h2_fields *f, const char *name, size_t name_len, const char *value,
                      size_t value_len, unsigned flags)
{
    if (f->num == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->nv = cg_xrealloc(f->nv, f->cap * sizeof(*f->nv));
    }
    size_t need =
        ((flags & H2F_REF_NAME) ? 0 : name_len + 1) + ((flags & H2F_REF_VALUE) ? 0 : value_len + 1);
    char *p = need > 0 ? reserve(f, need) : NULL;
    nghttp2_nv *nv = &f->nv[f->num++];
    if (flags & H2F_REF_NAME) {
        nv->name = (uint8_t *)(uintptr_t)name;
    } else {
        if (flags & H2F_LOWER) {
            copy_lower(p, name, name_len);
        } else if (name_len > 0) {
            memcpy(p, name, name_len);
        }
        p[name_len] = '\0';
        nv->name = (uint8_t *)p;
        p += name_len + 1;
    }
    if (flags & H2F_REF_VALUE) {
        nv->value = (uint8_t *)(uintptr_t)value;
    } else {
        if (value_len > 0) {
            memcpy(p, value, value_len);
        }
        p[value_len] = '\0';
        nv->value = (uint8_t *)p;
    }
    nv->namelen = name_len;
    nv->valuelen = value_len;
    nv->flags = NGHTTP2_NV_FLAG_NONE;
}

char *h2_fields_store(struct h2_fields *f, const char *p, size_t len)
{
    char *d = reserve(f, len + 1);
    if (p != NULL && len > 0) {
        memcpy(d, p, len);
    }
    d[len] = '\0';
    return d;
}

const nghttp2_nv *h2_fields_find(const struct h2_fields *f, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < f->num; i++) {
        if (f->nv[i].namelen == len && memcmp(f->nv[i].name, name, len) == 0) {
            return &f->nv[i];
        }
    }
    return NULL;
}

static void free_blocks(struct h2_fields_block *b)
{
    while (b != NULL) {
        struct h2_fields_block *next = b->next;
        free(b);
        b = next;
    }
}

void h2_fields_clear(struct h2_fields *f)
{
    f->num = 0;
    if (f->block != NULL) {
        free_blocks(f->block->next);
        f->block->next = NULL;
        f->block->len = 0;
    }
}

void h2_fields_recycle(struct h2_fields *f)
{
    if (f->cap > RECYCLE_MAX_FIELDS) {
        free(f->nv);
        f->nv = NULL;
        f->cap = 0;
    }
    if (f->block != NULL && f->block->cap > RECYCLE_MAX_BYTES) {
        free_blocks(f->block);
        f->block = NULL;
    }
    h2_fields_clear(f);
}

void h2_fields_cleanup(struct h2_fields *f)
{
    free(f->nv);
    free_blocks(f->block);
    memset(f, 0, sizeof(*f));
}
