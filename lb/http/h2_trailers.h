/* A response's trailer section as h2 fields (RFC 9113 section 8.1), pure: the nghttp2
 * name/value array of those that may be trailers (lb_trailer_allowed, lb/http/trailers.h).
 * The fields come checked (names tokens, so no pseudo-header; values as a head's) and bounded
 * by the codec that parsed them (lb/http/h1.c). */
#ifndef JOURNEY_LB_H2_TRAILERS_H
#define JOURNEY_LB_H2_TRAILERS_H

#include "lb/core/rewrite.h"
#include "lb/http/trailers.h"

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>

/* The ones of n fields lb_trailer_allowed allows into nva (n entries of room), in order, their
 * bytes to be copied by nghttp2 (which lowercases the names), without those the response's
 * Connection field names (conn: its tokens, from lb_h2_trailer_conn_names; NULL or empty:
 * none): the count, 0 when none is left. */
size_t lb_h2_trailer_fields(const lb_header *f, uint32_t n, const char *conn, size_t conn_len,
                            nghttp2_nv *nva);

/* The tokens of a response's Connection fields that name a field (all but "close" and
 * "keep-alive", which no trailer may carry anyway), comma-separated into dst (cap bytes; NULL:
 * only counted): their length, 0 for none. The response head is gone when its trailers come:
 * the caller keeps these (few responses have any). */
size_t lb_h2_trailer_conn_names(const lb_header *h, size_t nh, char *dst, size_t cap);

#endif
