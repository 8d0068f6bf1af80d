/* What a request head must be before journey-lb forwards anything (pure: no I/O, no allocation).
 *
 * llhttp as Debian packages it is built loose (obs-fold, bare LF, HTTP/0.9 and HTTP/2.0 request
 * lines, any transfer coding), and a front proxy must be stricter than whatever sits behind it:
 * a request two parsers could read differently is refused, never "fixed" (RFC 9112 sections 2.2,
 * 3, 5, 6.1, 6.3; the HAProxy/nginx choices where the RFC leaves one).
 *
 *   lb_request_check       the parsed head (views into the receive buffer), checked on the raw
 *                          bytes too (HTTP/1), or a head HTTP/2's codec assembled from checked
 *                          fields: 0 = forward it, else 400/501/505 and a reason for the client
 *   lb_request_error_status  llhttp's verdict on a head it refused -> 400/501/505
 *   lb_field_value_valid   field-value bytes: VCHAR, obs-text, SP, HTAB (trailers too)
 *   lb_fields_valid        a backend's fields (response head, trailers): names and values */
#ifndef JOURNEY_LB_REQUEST_CHECK_H
#define JOURNEY_LB_REQUEST_CHECK_H

#include "lb/core/rewrite.h"

#include <stddef.h>

typedef struct lb_request_head {
  const char *raw;      /* the head as received: request line .. CRLF CRLF; NULL for a head
                         * assembled from fields the codec checked (HTTP/2): then the target
                         * and the fields' meaning are checked, not their syntax */
  size_t raw_len;
  const char *target;   /* views into raw (llhttp's on_url) */
  size_t target_len;
  int http_major, http_minor;
  int is_options;       /* OPTIONS: the asterisk-form "*" is allowed */
  const lb_header *headers;
  size_t nheaders;
  int names_checked; /* every name is known to be a token already: not checked twice */
} lb_request_head;

int lb_request_check(const lb_request_head *h, const char **why);
int lb_request_error_status(const char *raw, size_t len, int llhttp_errno, const char **why);
int lb_field_value_valid(const char *v, size_t n);
/* One pass over n fields: 0 when every name is a token and every value valid, else
 * LB_FIELD_BAD_NAME or LB_FIELD_BAD_VALUE for the first field that is not. */
enum { LB_FIELD_BAD_NAME = 1, LB_FIELD_BAD_VALUE = 2 };
int lb_fields_valid(const lb_header *h, uint32_t n);
/* A head over max-header-size: 1 when the request line in buf[from..to) alone is longer than
 * max (ended by LF, or not ended yet): the target is what is too long, 414 rather than 431. */
int lb_request_line_over(const char *buf, size_t from, size_t to, size_t max);

#endif
