/* libFuzzer: journey-lb's config file parser (lb/config.c with inih), and the value parsers.
 * Oracles: no crash, no leak; a refused config always says why, naming the file and a line. */
#include "lb/core/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("fuzz-lb-config", 0);
    if (fd < 0)
      abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
    abort();
  static lb_config c; /* large: not on the stack */
  lb_config_defaults(&c);
  char err[512] = "";
  if (lb_config_load_file(&c, path, err, sizeof err) != 0) {
    if (!err[0] || !strstr(err, path))
      abort(); /* an error must name the file (and its line) */
  } else {
    err[0] = 0;
    if (lb_config_finish(&c, err, sizeof err) != 0 && !err[0])
      abort();
  }
  /* The value parsers on the same bytes as one string. */
  char s[256];
  size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
  memcpy(s, data, n);
  s[n] = 0;
  uint32_t ms;
  uint64_t sz;
  int b;
  lb_algo a;
  (void)lb_parse_duration_ms(s, &ms);
  (void)lb_parse_size(s, &sz);
  (void)lb_parse_bool(s, &b);
  (void)lb_algo_parse(s, &a);
  return 0;
}
