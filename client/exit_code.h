/* curl-compatible exit codes: which code a failure maps to, and what to tell the user (pure). */
#ifndef JOURNEY_CLIENT_EXIT_CODE_H
#define JOURNEY_CLIENT_EXIT_CODE_H

#include "client/result.h"

/* Short name of an exit code ("dns", "connect", "timeout", ...). */
const char *jn_exit_name(int code);
/* A hint telling the user what to do about it ("" for 0). */
const char *jn_exit_hint(int code);
/* Connect failure: the errno of the last attempt (ETIMEDOUT -> 28, otherwise 7). */
int jn_exit_for_connect(int err, int timed_out);
/* TLS handshake failure: 60 when certificate verification failed (OpenSSL verify result != 0),
 * else 35. */
int jn_exit_for_tls(long verify_result);
/* HTTP status with --fail: 22 for status >= 400, else 0. */
int jn_exit_for_http(int status, int fail);

#endif
