#include "policy/query_param.h"

#include <string.h>

#include "common/err.h"
#include "policy/path_normalize.h"

static bool is_space(unsigned char c)
{
    return c <= 0x20 || c == 0x7f;
}

/* key_base reduces a decoded key to the name servers read in it: leading whitespace
 * and brackets dropped ("[db]", " db"), cut at the first bracket ("db[]", "db[x]"),
 * trailing whitespace dropped ("db "). */
static struct cg_str key_base(struct cg_str k)
{
    while (k.len > 0 && (is_space((unsigned char)k.p[0]) || k.p[0] == '[' || k.p[0] == ']')) {
        k.p++;
        k.len--;
    }
    for (size_t i = 0; i < k.len; i++) {
        if (k.p[i] == '[' || k.p[i] == ']') {
            k.len = i;
            break;
        }
    }
    while (k.len > 0 && is_space((unsigned char)k.p[k.len - 1])) {
        k.len--;
    }
    return k;
}

/* trim_leading drops leading whitespace, as PHP does. */
static struct cg_str trim_leading(struct cg_str k)
{
    while (k.len > 0 && is_space((unsigned char)k.p[0])) {
        k.p++;
        k.len--;
    }
    return k;
}

/* next_folded returns the character at s[*i] folded for comparison and advances *i:
 * ASCII letters in lower case; '.', ' ' and '[' as '_' (PHP reads "d.b", "d b" and,
 * with no closing bracket, "d[b" as "d_b"); and the four Unicode letters that
 * case-map to ASCII as that letter (UTF-8). */
static unsigned char next_folded(struct cg_str s, size_t *i)
{
    const unsigned char *p = (const unsigned char *)s.p + *i;
    size_t left = s.len - *i;
    if (left >= 2 && p[0] == 0xc4 && (p[1] == 0xb0 || p[1] == 0xb1)) {
        *i += 2; /* U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE, U+0131 DOTLESS I */
        return 'i';
    }
    if (left >= 2 && p[0] == 0xc5 && p[1] == 0xbf) {
        *i += 2; /* U+017F LATIN SMALL LETTER LONG S */
        return 's';
    }
    if (left >= 3 && p[0] == 0xe2 && p[1] == 0x84 && p[2] == 0xaa) {
        *i += 3; /* U+212A KELVIN SIGN */
        return 'k';
    }
    *i += 1;
    unsigned char c = p[0];
    if (c == '.' || c == ' ' || c == '[') {
        return '_';
    }
    return (unsigned char)cg_ascii_lower((char)c);
}

static bool names_equal(struct cg_str a, struct cg_str b)
{
    size_t i = 0, j = 0;
    while (i < a.len && j < b.len) {
        if (next_folded(a, &i) != next_folded(b, &j)) {
            return false;
        }
    }
    return i == a.len && j == b.len;
}

/* key_names reports whether the decoded |key| names the parameter |want| (reduced by
 * key_base) in one of the readings above: its base name, or PHP's reading of an
 * unclosed bracket. */
static bool key_names(struct cg_str key, struct cg_str want)
{
    return names_equal(key_base(key), want) || names_equal(trim_leading(key), want);
}

/* folded_len counts the characters of |s| as next_folded reads them. */
static size_t folded_len(struct cg_str s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; n++) {
        next_folded(s, &i);
    }
    return n;
}

/* plain_other_key is the fast path for the common key: only letters, digits, '-',
 * '.' and '_' (nothing to decode, trim or cut, every byte folds to one character) and
 * not as many characters as the parameter's name (|want_chars|), so it cannot name
 * it. */
static bool plain_other_key(struct cg_str raw, size_t want_chars)
{
    if (raw.len == want_chars) {
        return false;
    }
    for (size_t i = 0; i < raw.len; i++) {
        char c = raw.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_')) {
            return false;
        }
    }
    return true;
}

/* span_until returns the index of the first |sep| in |s| at or after |from|, or
 * s.len. */
static size_t span_until(struct cg_str s, size_t from, char sep)
{
    const char *hit = from < s.len ? memchr(s.p + from, sep, s.len - from) : NULL;
    return hit != NULL ? (size_t)(hit - s.p) : s.len;
}

int policy_query_param(struct cg_str query, const char *name, char *buf, size_t buf_cap,
                       struct policy_query_value *out)
{
    struct cg_str want = key_base(cg_str_from_cstr(name));
    size_t want_chars = folded_len(want);
    struct cg_str raw = {NULL, 0};
    bool found = false;
    int rc = CG_OK;
    *out = (struct policy_query_value){.found = false, .value = {buf, 0}};
    if (buf_cap == 0) {
        return CG_ERR_LIMIT;
    }
    /* Chunks between '&', then pairs between ';' inside a chunk. */
    for (size_t i = 0; i < query.len; i++) {
        size_t end = span_until(query, i, '&');
        struct cg_str chunk = {query.p + i, end - i};
        bool chunk_has_semicolon = span_until(chunk, 0, ';') < chunk.len;
        for (size_t j = 0; j < chunk.len; j++) {
            size_t pair_end = span_until(chunk, j, ';');
            struct cg_str pair = {chunk.p + j, pair_end - j};
            j = pair_end;
            if (pair.len == 0) {
                continue;
            }
            size_t eq = span_until(pair, 0, '=');
            if (plain_other_key((struct cg_str){pair.p, eq}, want_chars)) {
                continue;
            }
            size_t key_len;
            rc = policy_pct_decode((struct cg_str){pair.p, eq}, true, buf, buf_cap, &key_len);
            if (rc != CG_OK) {
                goto out;
            }
            if (want.len == 0 || !key_names((struct cg_str){buf, key_len}, want)) {
                continue;
            }
            if (found || chunk_has_semicolon) {
                rc = CG_ERR_INVALID;
                goto out;
            }
            found = true;
            raw = eq < pair.len ? (struct cg_str){pair.p + eq + 1, pair.len - eq - 1}
                                : (struct cg_str){NULL, 0};
        }
        i = end;
    }
    size_t len = 0;
    if (found && (rc = policy_pct_decode(raw, true, buf, buf_cap, &len)) != CG_OK) {
        goto out;
    }
    for (size_t k = 0; k < len; k++) {
        if ((unsigned char)buf[k] < 0x20 || buf[k] == 0x7f) {
            rc = CG_ERR_INVALID;
            goto out;
        }
    }
    out->found = found;
    out->value.len = len;
out:
    buf[out->value.len] = '\0';
    return rc;
}
