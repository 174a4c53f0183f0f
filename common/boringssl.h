/* Include this before any <openssl/...> header: it stops the build when the include
 * path resolves to OpenSSL 3 instead of BoringSSL (platform-notes: the two sets of
 * headers sit side by side on Debian and mixing them compiles silently). */
#ifndef CG_COMMON_BORINGSSL_H
#define CG_COMMON_BORINGSSL_H

#include <openssl/base.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "certgate must be built against BoringSSL (-I/usr/include/android), not OpenSSL"
#endif

#endif
