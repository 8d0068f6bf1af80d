/* libFuzzer: the client's HTTP/2 side (client/h2.c with nghttp2, each response head and body
 * through client/http.c) fed what a hostile server could send. The first byte picks HEAD or not
 * and how many streams are open (1-4), the second where the bytes are split in two reads; then
 * the connection ends. Oracles: no crash, no leak; every stream comes back exactly once, with a
 * reason when it failed; the result's strings stay NUL-terminated within their arrays. */
#include "client/h2.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int returned;

static int discard(void *ud, const uint8_t *p, size_t n) {
  (void)ud, (void)p, (void)n;
  return 0;
}

static void done(void *ud, jn_result *r, int code) {
  (void)ud;
  returned++;
  if (strnlen(r->resp_headers, sizeof r->resp_headers) == sizeof r->resp_headers ||
      strnlen(r->error, sizeof r->error) == sizeof r->error || r->h2.frame_n > JN_H2_FRAMES_MAX)
    abort();
  if (code && !r->error[0])
    abort(); /* a failure always says what failed */
  free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  int head = data[0] & 1, streams = 1 + ((data[0] >> 1) & 3);
  size_t split = data[1];
  data += 2;
  size -= 2;
  if (split > size)
    split = size;
  static const char req[] = "GET /my-app/data HTTP/1.1\r\nHost: www.my-app.com\r\nAccept: */*\r\n\r\n";
  FILE *sink = fopen("/dev/null", "w");
  jn_h2_cbs cbs = {.write = discard, .done = done};
  jn_h2_out out = {.out = sink, .head = head};
  jn_h2 *h = jn_h2_new(&cbs, &out, streams);
  if (!h)
    abort();
  returned = 0;
  int opened = 0;
  for (int i = 0; i < streams; i++) {
    jn_result *r = calloc(1, sizeof *r);
    if (jn_h2_submit(h, r, 1, req, sizeof req - 1, "https", "www.my-app.com:443", head ? NULL : "x=1", head ? 0 : 3) != 0)
      abort();
    opened++;
  }
  jn_h2_flush(h);
  if (jn_h2_feed(h, (const char *)data, split) == 0)
    jn_h2_feed(h, (const char *)data + split, size - split);
  jn_h2_free(h); /* the connection ends: what is still open comes back failed */
  fclose(sink);
  if (returned != opened)
    abort();
  return 0;
}
