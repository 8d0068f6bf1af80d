/* Request building (pure): the seed's default headers, -H additions/replacements, and the exact
 * bytes of the request line and header block. */
#ifndef JOURNEY_CLIENT_REQUEST_H
#define JOURNEY_CLIENT_REQUEST_H

#include <stddef.h>

#include "client/url.h"

#define JN_REQ_HEADERS_MAX 64
#define JN_REQ_HEADER_MAX 1024

typedef struct jn_header {
  char name[128];
  char value[JN_REQ_HEADER_MAX];
} jn_header;

typedef struct jn_request {
  char method[16];
  const char *version; /* "1.1", or "1.0" (--http1.0) */
  int absolute_form;   /* "GET http://host/path": to a proxy, without a tunnel */
  size_t count;
  jn_header h[JN_REQ_HEADERS_MAX];
} jn_request;

/* Method plus the seed's headers, in the seed's order: Host, User-Agent journey/VERSION, Accept,
 * Accept-Language ko-KR,ko;q=0.9,en;q=0.8, Accept-Encoding gzip, deflate, br,
 * Connection keep-alive (close when keepalive is 0). */
void jn_request_init(jn_request *r, const jn_url *u, const char *method, int keepalive);
/* Applies one -H argument like curl: "Name: value" adds or replaces (case-insensitive name),
 * "Name:" removes the header, "Name;" sends it with an empty value. Returns 0 or -1 with err. */
int jn_request_header_arg(jn_request *r, const char *arg, char *err, size_t errlen);
/* Value of a header or NULL. */
const char *jn_request_get(const jn_request *r, const char *name);
/* Writes "METHOD target HTTP/1.1\r\nName: value\r\n...\r\n" into buf. Returns the length
 * (snprintf semantics: >= len means it did not fit). */
size_t jn_request_format(const jn_request *r, const jn_url *u, char *buf, size_t len);

#endif
