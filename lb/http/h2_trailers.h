/* A trailer section as h2 fields (RFC 9113 section 8.1, RFC 9110 section 6.5.1), pure: which
 * fields may be trailers, and the nghttp2 name/value array of those that may. The fields come
 * checked (names tokens, so no pseudo-header; values as a head's) and bounded by the codec
 * that parsed them (lb/http/h1.c). */
#ifndef JOURNEY_LB_H2_TRAILERS_H
#define JOURNEY_LB_H2_TRAILERS_H

#include "lb/core/rewrite.h"

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>

/* 0 for a field that must not be a trailer: connection-specific (Connection, Keep-Alive,
 * Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade), framing (Content-Length), routing (Host),
 * request modifiers (Expect, Max-Forwards, Range, If-*), authentication (Authorization,
 * WWW-Authenticate, Cookie, Set-Cookie), response controls (Cache-Control, Expires, Age, Vary,
 * Location, Retry-After, Date, Pragma, Warning) and content format (Content-Type,
 * Content-Encoding, Content-Range): each needed before the content, so a trailer copy would
 * be read too late or change what was already acted on. 1 otherwise (any case). */
int lb_h2_trailer_allowed(const char *name, size_t n);

/* The allowed ones of n fields into nva (n entries of room), in order, their bytes to be copied
 * by nghttp2 (which lowercases the names): the count, 0 when none is left. */
size_t lb_h2_trailer_fields(const lb_header *f, uint32_t n, nghttp2_nv *nva);

#endif
