/* The policy commands of the certgate binary (docs/policy.md "Asking the policy"):
 *
 *   certgate policy show    --policy FILE [--json]
 *   certgate policy explain --policy FILE [--cert FILE [--password PW]]
 *                           [--client-ca FILE [--crl FILE]] [--ip ADDR] [--host NAME]
 *                           [--sni NAME] (--method M --path P[?QUERY] | --grpc /pkg.Svc/M)
 *                           [--json]
 */
#ifndef CG_APP_CLI_POLICY_H
#define CG_APP_CLI_POLICY_H

/* policy_cli_main runs one policy command; |argv[0]| is "policy". Results go to stdout,
 * an error is one line on stderr. Returns the exit code: show 0 (1 when the policy does
 * not load); explain 0 when the request is allowed (also in audit mode), 1 when it is
 * denied; 2 for usage errors and for inputs that cannot be read (then nothing was
 * decided). */
int policy_cli_main(int argc, char **argv);

#endif
