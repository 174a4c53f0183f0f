/* The certificate commands of the certgate binary (docs/certificates.md):
 *
 *   certgate ca init     --dir DIR [--name CN] [--days N]
 *   certgate cert server --ca DIR --san IP_OR_DNS[,...] --out DIR [--days N] [--name CN]
 *   certgate cert client --ca DIR --name NAME --clearance C [--db NAME=LEVEL ...]
 *                        [--days N] [--password PW] --out DIR [--policy FILE]
 *   certgate cert import FILE [--password PW] --name NAME --clearance C
 *                        [--db NAME=LEVEL ...] --policy FILE
 *   certgate cert list   --policy FILE [--json]
 *   certgate cert edit   THUMBPRINT --policy FILE [--name N] [--clearance C] [--db ...]
 *   certgate cert delete THUMBPRINT --policy FILE
 *   certgate cert thumbprint FILE [--password PW]
 */
#ifndef CG_APP_CLI_PKI_H
#define CG_APP_CLI_PKI_H

/* pki_cli_main runs one command. |argv[0]| is "ca" or "cert" (the word after
 * "certgate"), the rest are its arguments. Results go to stdout; an error is one line
 * on stderr. Returns the process exit code: 0 on success, 1 for bad input (unknown
 * thumbprint, wrong password, not a certificate, misspelled clearance, existing files,
 * I/O errors), 2 for usage errors. Files are never left half-written. */
int pki_cli_main(int argc, char **argv);

#endif
