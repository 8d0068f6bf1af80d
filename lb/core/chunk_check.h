/* Strict chunked-body syntax (pure: no I/O, no allocation), run over the very bytes journey-lb
 * relays raw, next to llhttp (whose Debian build accepts a bare CR in a chunk-size line, in chunk
 * extensions and in trailers, so that a backend would end the message at another byte).
 *
 *   chunk      = 1*HEXDIG [ ";" ext ] CRLF data CRLF          (RFC 9112 section 7.1)
 *   last-chunk = "0" [ ";" ext ] CRLF *( field-line CRLF ) CRLF
 *
 * Refused (400): anything but hex digits before ";" or CR (no whitespace), a CR not followed by
 * LF, a bare LF, control bytes in extensions or trailer values, a size-line longer than
 * `max_line` (the extensions' bound), obs-fold or a non-token name in a trailer, data longer
 * than its size. A trailer section over `max_trailer_bytes` or `max_trailer_fields`: 431.
 * Extension bytes are counted (`ext_bytes`): the body limit counts them with the data. */
#ifndef JOURNEY_LB_CHUNK_CHECK_H
#define JOURNEY_LB_CHUNK_CHECK_H

#include <stddef.h>
#include <stdint.h>

#define LB_CHUNK_LINE_MAX 1024 /* a chunk-size line with its extensions, CRLF excluded */

typedef struct lb_chunk_limits {
  uint32_t max_line;           /* LB_CHUNK_LINE_MAX */
  uint32_t max_trailer_bytes;  /* max-header-size */
  uint32_t max_trailer_fields; /* max-headers */
} lb_chunk_limits;

typedef struct lb_chunk_scan {
  uint64_t size;      /* the chunk size being read, then the data bytes left */
  uint64_t ext_bytes; /* extension bytes of every size line so far */
  uint32_t line;      /* bytes of the current size line */
  uint32_t trailer_bytes, trailer_fields;
  uint8_t state, digits;
  uint8_t trailers;   /* the last-chunk line is read: what follows is the trailer section */
  size_t trailers_at; /* where it began, as an offset in the feed that set `trailers` */
} lb_chunk_scan;

/* A fresh body (all zero is the same). */
static inline void lb_chunk_scan_init(lb_chunk_scan *s) { *s = (lb_chunk_scan){0}; }

/* Feeds n bytes. 0: all consumed, the body goes on; 1: the body ended after *used bytes; 400 or
 * 431: refused at byte *used with *why. */
int lb_chunk_scan_feed(lb_chunk_scan *s, const lb_chunk_limits *lim, const char *p, size_t n,
                       size_t *used, const char **why);

#endif
