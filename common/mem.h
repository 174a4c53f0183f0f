/* Memory helpers: allocation that cannot return NULL.
 *
 * certgate bounds memory with explicit limits (connections, header sizes, buffer
 * high-water marks) instead of recovering from malloc failure; running out of memory
 * aborts through these wrappers (docs/contributing.md). */
#ifndef CG_COMMON_MEM_H
#define CG_COMMON_MEM_H

#include <stddef.h>

/* cg_xmalloc returns |size| bytes of uninitialised memory or aborts. */
void *cg_xmalloc(size_t size);
/* cg_xcalloc returns |n| * |size| zeroed bytes or aborts (also on overflow). */
void *cg_xcalloc(size_t n, size_t size);
/* cg_xrealloc resizes |p| to |size| bytes or aborts. */
void *cg_xrealloc(void *p, size_t size);
/* cg_xstrdup returns a heap copy of the NUL-terminated |s| or aborts. */
char *cg_xstrdup(const char *s);
/* cg_xstrndup copies |len| bytes of |s| and appends a NUL; aborts on failure. */
char *cg_xstrndup(const char *s, size_t len);

#endif
