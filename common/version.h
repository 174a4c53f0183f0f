/* What this binary is: certgate's version, the commit it was built from and the TLS
 * library it runs on. One place for `certgate version`, the log and the metrics. */
#ifndef CG_COMMON_VERSION_H
#define CG_COMMON_VERSION_H

#include <stddef.h>
#include <stdio.h>

/* cg_version returns certgate's version, CMake's project version ("0.1.0"). */
const char *cg_version(void);

/* cg_version_commit returns the git commit the binary was built from (hex), or
 * "unknown" when it was not built from a git checkout and none was given
 * (-DCERTGATE_GIT_COMMIT). */
const char *cg_version_commit(void);

/* cg_version_tls writes into |out| (|out_len| bytes, always NUL-terminated, truncated
 * if short; 256 is plenty) what the linked BoringSSL says about itself at run time,
 * followed by the API version and Debian package it was compiled against, e.g.
 * "BoringSSL (OpenSSL 1.1.1 API), built against API 17 (android-libboringssl-dev
 * 13.0.0+r24-2)". */
void cg_version_tls(char *out, size_t out_len);

/* cg_version_print writes the three facts to |f|, one per line, as
 * `certgate version` prints them: "certgate VERSION", "commit: ...", "tls: ...". */
void cg_version_print(FILE *f);

#endif
