/* libFuzzer: a DNS answer as the client handles it. The fuzzer's bytes are the answer c-ares
 * hands to the client's query callback (client/dns.c, compiled in here so that its static
 * query_done runs as is): ares_parse_a_reply / ares_parse_aaaa_reply, the answers with their
 * TTLs, the CNAME chain, the step report. The first byte picks A or AAAA. Oracles: no crash,
 * no leak; the counts stay within their arrays; every answer is of the family asked for and its
 * text is printable and a valid address of that family (inet_pton reads it back). */
#include "../../client/dns.c"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>

/* The answer's text: NUL-terminated inside its array, printable, and an address of family fam. */
static int answer_ok(const jn_dns_answer *a, int fam) {
  size_t n = strnlen(a->addr, sizeof a->addr);
  if (n == 0 || n == sizeof a->addr || a->family != fam)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isprint((unsigned char)a->addr[i]))
      return 0;
  unsigned char bin[16];
  return inet_pton(fam == 6 ? AF_INET6 : AF_INET, a->addr, bin) == 1;
}

static void done_cb(jn_dns *d, int code) { (void)d, (void)code; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  static ares_channel ch;
  if (!init) {
    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
      abort();
    struct ares_options o;
    memset(&o, 0, sizeof o);
    o.flags = ARES_FLAG_NOSEARCH;
    /* A channel for the error path's server list only: no query is ever sent. */
    if (ares_init_options(&ch, &o, ARES_OPT_FLAGS) != ARES_SUCCESS ||
        ares_set_servers_ports_csv(ch, "127.0.0.1:53") != ARES_SUCCESS)
      abort();
    init = 1;
  }
  if (size < 1)
    return 0;
  int fam = (data[0] & 1) ? 6 : 4;
  data++;
  size--;
  unsigned char *abuf = malloc(size ? size : 1);
  memcpy(abuf, data, size);
  static jn_result r;
  memset(&r, 0, sizeof r);
  snprintf(r.url.host, sizeof r.url.host, "www.my-app.com");
  static jn_dns d;
  memset(&d, 0, sizeof d);
  d.r = &r;
  d.au.ch = ch;
  d.au.cur_fd = ARES_SOCKET_BAD;
  d.done = done_cb;
  d.pending = 2; /* the other query is still out: no final verdict, no loop needed */
  qctx q = {&d, fam, 0};
  query_done(&q, ARES_SUCCESS, 0, abuf, (int)size);
  if (r.answer_n > JN_ADDR_MAX || r.cname_n > 4 || r.dns_step_n > JN_DNS_STEPS)
    abort();
  for (size_t i = 0; i < r.answer_n; i++)
    if (!answer_ok(&r.answers[i], fam))
      abort();
  free(abuf);
  return 0;
}
