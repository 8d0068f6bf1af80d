/* HTTP/2 facts of one request (pure): frames recorded into a jn_h2_info (consecutive DATA frames
 * merged, the first rows and the last one kept), names of frame types, settings and error codes,
 * the human lines and the --json object of the HTTP phase, and the request's HTTP/2 header fields
 * made from its HTTP/1.1 bytes. h2.c (nghttp2) fills the info; report.c and report_json.c print it. */
#ifndef JOURNEY_CLIENT_H2_REPORT_H
#define JOURNEY_CLIENT_H2_REPORT_H

#include <stdio.h>

#include "client/result.h"

const char *jn_h2_frame_name(unsigned type);
const char *jn_h2_setting_name(unsigned id);
const char *jn_h2_error_name(uint32_t code);

/* Appends a frame to info: merged with the previous row when both are flagless DATA frames of the
 * same stream and direction (or both END_STREAM-less); when the rows are full the last row is
 * replaced, so the end of the exchange (END_STREAM, RST_STREAM, GOAWAY) stays visible. */
void jn_h2_frame_record(jn_h2_info *info, const jn_h2_frame *fr);

/* One frame as a line: "+12.345 ms  > HEADERS       stream 1  45 B  END_STREAM END_HEADERS". */
size_t jn_h2_frame_line(char *buf, size_t len, const jn_h2_frame *fr);

/* The HTTP/2 lines of the HTTP phase, each starting with indent. */
void jn_h2_report_human(FILE *f, const jn_h2_info *info, const char *indent);

/* ,"h2":{...} for --json (or ,"h2":null when the request did not use HTTP/2). */
void jn_h2_report_json(FILE *f, const jn_h2_info *info);

/* One header field of a request over HTTP/2: pointers into the caller's storage. */
typedef struct jn_h2_field {
  const char *name, *value;
  size_t name_len, value_len;
} jn_h2_field;

/* The request's HTTP/1.1 bytes (request line, header lines; the body not included) as HTTP/2
 * fields (RFC 9113 8.3.1): :method, :scheme, :authority (from Host; authority when -H removed
 * Host, NULL: then it is an error), :path, then the headers with lower-case names, without the
 * connection-specific ones (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade,
 * TE other than "trailers") and Host. Names are lower-cased into store.
 * Returns the number of fields, or -1 when req is not a request or a limit is hit. */
int jn_h2_request_fields(const char *req, size_t req_len, const char *scheme, const char *authority,
                         jn_h2_field *out, size_t cap, char *store, size_t store_len);

#endif
