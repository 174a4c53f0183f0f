#include "common/hostname.h"

#include <string.h>

static bool is_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

bool cg_hostname_valid(struct cg_str name)
{
    if (name.len == 0 || name.len > CG_HOSTNAME_MAX) {
        return false;
    }
    size_t start = 0; /* of the current label */
    bool all_digits = true;
    for (size_t i = 0; i <= name.len; i++) {
        char c = i < name.len ? name.p[i] : '.';
        if (c == '.') {
            size_t label_len = i - start;
            if (label_len == 0 || label_len > 63 || name.p[start] == '-' || name.p[i - 1] == '-') {
                return false;
            }
            if (i == name.len) {
                return !all_digits;
            }
            start = i + 1;
            all_digits = true;
        } else if (!is_label_char(c)) {
            return false;
        } else if (c < '0' || c > '9') {
            all_digits = false;
        }
    }
    return false; /* not reached: the loop ends on the final pseudo-dot */
}

bool cg_hostname_pattern_valid(struct cg_str name)
{
    if (name.len > 2 && name.p[0] == '*' && name.p[1] == '.') {
        return name.len <= CG_HOSTNAME_MAX &&
               cg_hostname_valid((struct cg_str){name.p + 2, name.len - 2});
    }
    return cg_hostname_valid(name);
}

struct cg_str cg_authority_host(struct cg_str a)
{
    if (a.len > 0 && a.p[0] == '[') {
        const char *close = memchr(a.p, ']', a.len);
        a.len = close ? (size_t)(close - a.p) + 1 : a.len;
        return a;
    }
    const char *colon = memchr(a.p, ':', a.len);
    if (colon != NULL) {
        a.len = (size_t)(colon - a.p);
    }
    if (a.len > 0 && a.p[a.len - 1] == '.') {
        a.len--;
    }
    return a;
}
