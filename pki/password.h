/* Generated passwords for PKCS#12 bundles. */
#ifndef CG_PKI_PASSWORD_H
#define CG_PKI_PASSWORD_H

#include <stddef.h>

/* Characters in a generated password: 24 from a 57-letter alphabet without look-alikes
 * (0/O, 1/l/I) is about 140 bits. */
#define PKI_PASSWORD_LEN 24

/* pki_password_generate fills |out| (at least PKI_PASSWORD_LEN + 1 bytes) with a random
 * password from BoringSSL's CSPRNG and a terminating NUL. Cannot fail. */
void pki_password_generate(char *out);

#endif
