/* libFuzzer: the client's response handling (client/http.c: llhttp, headers kept for the report,
 * Server-Timing / X-Served-By / X-Request-Id into lb_info, gzip/deflate decoding with zlib).
 * The first byte picks HEAD or not and where the bytes are split in two reads; the end of the
 * input is the connection closing. Oracles: no crash, no leak, no read past the input; the
 * result's strings stay NUL-terminated within their arrays. */
#include "client/http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  int head = data[0] & 1;
  size_t split = data[1];
  data += 2;
  size -= 2;
  if (split > size)
    split = size;
  char *buf = malloc(size ? size : 1);
  memcpy(buf, data, size);
  static jn_result r;
  memset(&r, 0, sizeof r);
  jn_http h;
  memset(&h, 0, sizeof h); /* as the client's connection struct (calloc) */
  FILE *sink = fopen("/dev/null", "w");
  jn_http_begin(&h, &r, head, sink);
  int st = jn_http_feed(&h, buf, split);
  if (st == 0)
    st = jn_http_feed(&h, buf + split, size - split);
  if (st == 0)
    st = jn_http_eof(&h);
  jn_http_end(&h);
  fclose(sink);
  if (strnlen(r.reason, sizeof r.reason) == sizeof r.reason ||
      strnlen(r.resp_headers, sizeof r.resp_headers) == sizeof r.resp_headers ||
      strnlen(r.error, sizeof r.error) == sizeof r.error)
    abort();
  if (st < 0 && !r.error[0])
    abort(); /* a failure always says what failed */
  free(buf);
  return 0;
}
