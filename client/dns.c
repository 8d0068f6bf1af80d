#include "client/dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "common/addr.h"
#include "common/clock.h"
#include "client/dns_cache.h"
#include "client/dns_pin.h"

static jn_dns_step *step(jn_dns *d, const char *source, const char *result, uint64_t us, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static jn_dns_step *step(jn_dns *d, const char *source, const char *result, uint64_t us, const char *fmt, ...) {
  jn_result *r = d->r;
  if (r->dns_step_n == JN_DNS_STEPS)
    return NULL;
  jn_dns_step *s = &r->dns_steps[r->dns_step_n++];
  jn_strlcpy(s->source, source, sizeof s->source);
  jn_strlcpy(s->result, result, sizeof s->result);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->detail, sizeof s->detail, fmt, ap);
  va_end(ap);
  s->us = us;
  return s;
}

static void add_answer(jn_result *r, int fam, const void *addr, long ttl) {
  if (r->answer_n == JN_ADDR_MAX)
    return;
  jn_dns_answer *a = &r->answers[r->answer_n];
  if (!inet_ntop(fam == 6 ? AF_INET6 : AF_INET, addr, a->addr, sizeof a->addr))
    return;
  for (size_t i = 0; i < r->answer_n; i++)
    if (strcmp(r->answers[i].addr, a->addr) == 0)
      return;
  a->family = fam;
  a->ttl = ttl;
  r->answer_n++;
}

static void finish(jn_dns *d, int code) {
  if (d->finished)
    return;
  d->finished = 1;
  d->r->dns_us = jc_now_us() - d->t0;
  if (code) {
    d->r->exit_code = code;
    snprintf(d->r->failed_phase, sizeof d->r->failed_phase, "dns");
  }
  d->done(d, code);
}

/* c-ares tells us each socket it opens: counted so that the report can say how many were used. */
static int sock_created(ares_socket_t fd, int type, void *data) {
  jn_dns *d = data;
  (void)fd;
  if (type == SOCK_STREAM)
    d->tcp_socks++;
  else
    d->udp_socks++;
  return ARES_SUCCESS;
}

/* ---- the DNS servers ---- */

typedef struct qctx {
  jn_dns *d;
  int fam;
  uint64_t t0;
} qctx;
static qctx qctxs[2]; /* one resolution per process at a time: the A and the AAAA query */

static void server_name(jn_dns *d, char *buf, size_t len) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  buf[0] = 0;
  if (d->au.cur_fd == ARES_SOCKET_BAD || getpeername(d->au.cur_fd, (struct sockaddr *)&ss, &sl) != 0)
    return;
  int type = 0;
  socklen_t tl = sizeof type;
  getsockopt(d->au.cur_fd, SOL_SOCKET, SO_TYPE, &type, &tl);
  char a[JC_ADDRSTR_MAX];
  snprintf(buf, len, "%s/%s", jc_addr_format((struct sockaddr *)&ss, a, sizeof a), type == SOCK_STREAM ? "tcp" : "udp");
}

static void servers_desc(jn_dns *d, char *buf, size_t len) {
  struct ares_addr_port_node *list = NULL;
  buf[0] = 0;
  if (ares_get_servers_ports(d->au.ch, &list) != ARES_SUCCESS)
    return;
  size_t off = 0;
  for (struct ares_addr_port_node *n = list; n && off < len; n = n->next) {
    char ip[64];
    inet_ntop(n->family, &n->addr, ip, sizeof ip);
    int w = snprintf(buf + off, len - off, n->family == AF_INET6 ? "%s[%s]:%d" : "%s%s:%d", off ? "," : "", ip,
                     n->udp_port ? n->udp_port : 53);
    if (w < 0)
      break;
    off += (size_t)w;
  }
  ares_free_data(list);
}

static void query_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
  qctx *q = arg;
  jn_dns *d = q->d;
  jn_result *r = d->r;
  if (d->finished || status == ARES_EDESTRUCTION)
    return;
  uint64_t took = jc_now_us() - q->t0;
  char srv[80];
  server_name(d, srv, sizeof srv);
  if (srv[0] && !r->dns_server[0])
    jn_strlcpy(r->dns_server, srv, sizeof r->dns_server);
  const char *type = q->fam == 6 ? "AAAA" : "A";
  int got = 0;
  if (status == ARES_SUCCESS) {
    struct hostent *he = NULL;
    int n = JN_ADDR_MAX;
    int pr;
    if (q->fam == 4) {
      struct ares_addrttl ttls[JN_ADDR_MAX];
      pr = ares_parse_a_reply(abuf, alen, &he, ttls, &n);
      for (int i = 0; pr == ARES_SUCCESS && i < n; i++, got++)
        add_answer(r, 4, &ttls[i].ipaddr, ttls[i].ttl);
    } else {
      struct ares_addr6ttl ttls[JN_ADDR_MAX];
      pr = ares_parse_aaaa_reply(abuf, alen, &he, ttls, &n);
      for (int i = 0; pr == ARES_SUCCESS && i < n; i++, got++)
        add_answer(r, 6, &ttls[i].ip6addr, ttls[i].ttl);
    }
    if (pr == ARES_SUCCESS && he) {
      /* c-ares puts the names that were CNAMEs in h_aliases and the canonical name in h_name. */
      for (char **al = he->h_aliases; al && *al && r->cname_n < 4; al++) {
        int dup = 0;
        for (size_t i = 0; i < r->cname_n; i++)
          dup |= strncmp(r->cname[i], *al, strlen(*al)) == 0;
        if (!dup)
          snprintf(r->cname[r->cname_n++], sizeof r->cname[0], "%s -> %s", *al, he->h_name);
      }
    }
    if (he)
      ares_free_hostent(he);
    if (pr != ARES_SUCCESS && pr != ARES_ENODATA)
      status = pr;
  }
  if (status == ARES_SUCCESS || status == ARES_ENODATA || status == ARES_ENOTFOUND) {
    step(d, "server", got ? "hit" : "miss", took, "%s: %d %s record%s%s%s", srv[0] ? srv : "a DNS server", got, type,
         got == 1 ? "" : "s", timeouts ? " after retries" : "",
         got ? "" : status == ARES_ENOTFOUND ? " (NXDOMAIN: no such name)" : " (no data)");
    if (status != ARES_SUCCESS)
      d->errs[q->fam == 6] = status;
  } else {
    char list[256];
    servers_desc(d, list, sizeof list);
    d->errs[q->fam == 6] = status;
    step(d, "server", "error", took, "%s query to %s: %s%s", type, srv[0] ? srv : (list[0] ? list : "the DNS servers"),
         ares_strerror(status), timeouts ? " (timed out)" : "");
  }
  if (--d->pending > 0)
    return;
  if (!r->answer_n) {
    char list[256];
    servers_desc(d, list, sizeof list);
    snprintf(r->error, sizeof r->error, "could not resolve %s: %s (asked %.200s)", r->url.host,
             ares_strerror(d->errs[0] ? d->errs[0] : d->errs[1] ? d->errs[1] : ARES_ENODATA),
             list[0] ? list : "no DNS server");
    finish(d, JN_EXIT_DNS);
    return;
  }
  snprintf(r->dns_source, sizeof r->dns_source, "server");
  if (d->o->cache_path && !d->o->no_cache) {
    char *old = malloc(JN_DNS_CACHE_MAX), *neu = malloc(JN_DNS_CACHE_MAX);
    char err[256];
    if (old && neu && jn_dns_cache_load(d->o->cache_path, old, JN_DNS_CACHE_MAX, err, sizeof err) == 0) {
      size_t len = jn_dns_cache_update(old, r->url.host, r->answers, r->answer_n, time(NULL), neu, JN_DNS_CACHE_MAX);
      if (jn_dns_cache_store(d->o->cache_path, neu, len, err, sizeof err) != 0)
        step(d, "cache", "error", 0, "%s (the answer is still used)", err);
    }
    free(old);
    free(neu);
  }
  finish(d, 0);
}

static void hosts_done(void *arg, int status, int timeouts, struct ares_addrinfo *res) {
  jn_dns *d = arg;
  (void)timeouts;
  if (d->hosts_state == 1 && status == ARES_SUCCESS && res)
    for (struct ares_addrinfo_node *n = res->nodes; n; n = n->ai_next) {
      if (n->ai_family == AF_INET)
        add_answer(d->r, 4, &((struct sockaddr_in *)n->ai_addr)->sin_addr, -1);
      else if (n->ai_family == AF_INET6)
        add_answer(d->r, 6, &((struct sockaddr_in6 *)n->ai_addr)->sin6_addr, -1);
    }
  if (res)
    ares_freeaddrinfo(res);
  d->hosts_state = 2;
}

/* ---- the order ---- */

int jn_dns_start(jn_dns *d, uv_loop_t *loop, const jn_dns_opts *o, jn_result *r, jn_dns_done_cb done) {
  void *keep = d->data;
  memset(d, 0, sizeof *d);
  d->data = keep;
  d->loop = loop;
  d->o = o;
  d->r = r;
  d->done = done;
  d->au.cur_fd = ARES_SOCKET_BAD;
  d->t0 = jc_now_us();
  const char *host = r->url.host;

  if (r->url.host_is_ip) {
    unsigned char buf[16];
    inet_pton(r->url.host_is_ip == 6 ? AF_INET6 : AF_INET, host, buf);
    add_answer(r, r->url.host_is_ip, buf, -1);
    snprintf(r->dns_source, sizeof r->dns_source, "literal");
    step(d, "literal", "hit", 0, "%s is an IP address: no DNS look-up", host);
    finish(d, 0);
    return 0;
  }
  for (size_t i = 0; i < o->pin_n; i++) {
    uint64_t t = jc_now_us();
    jn_dns_answer a[JN_ADDR_MAX];
    size_t n = jn_dns_pin_match(o->pins[i], host, r->url.port, a, JN_ADDR_MAX);
    for (size_t k = 0; k < n && r->answer_n < JN_ADDR_MAX; k++)
      if (!o->family || a[k].family == o->family)
        r->answers[r->answer_n++] = a[k];
    if (r->answer_n) {
      snprintf(r->dns_source, sizeof r->dns_source, "pinned");
      step(d, "pinned", "hit", jc_now_us() - t, "--resolve %s", o->pins[i]);
      finish(d, 0);
      return 0;
    }
  }
  /* 1. journey's own cache (the browser's DNS cache in the seed) */
  if (o->no_cache) {
    step(d, "cache", "skipped", 0, "--no-cache");
  } else if (!o->cache_path) {
    step(d, "cache", "skipped", 0, "no cache location: set XDG_CACHE_HOME or HOME");
  } else {
    uint64_t t = jc_now_us();
    char *text = malloc(JN_DNS_CACHE_MAX);
    char err[256];
    size_t n = 0;
    if (text && jn_dns_cache_load(o->cache_path, text, JN_DNS_CACHE_MAX, err, sizeof err) == 0)
      n = jn_dns_cache_lookup(text, host, o->family, time(NULL), r->answers, JN_ADDR_MAX);
    else if (text)
      step(d, "cache", "error", jc_now_us() - t, "%s", err);
    free(text);
    if (n) {
      r->answer_n = n;
      snprintf(r->dns_source, sizeof r->dns_source, "cache");
      step(d, "cache", "hit", jc_now_us() - t, "%s: %zu fresh answer%s (remaining TTL shown)", o->cache_path, n,
           n == 1 ? "" : "s");
      finish(d, 0);
      return 0;
    }
    step(d, "cache", "miss", jc_now_us() - t, "%s: no fresh entry", o->cache_path);
  }

  uint64_t setup0 = jc_now_us(); /* curl sets its resolver up before its clock starts */
  struct ares_options opts;
  memset(&opts, 0, sizeof opts);
  opts.timeout = (int)(o->timeout_ms ? o->timeout_ms : 2000);
  opts.tries = 2;
  opts.lookups = (char *)"f"; /* ares_getaddrinfo: files only; the servers are asked with ares_search */
  int st = jc_ares_uv_init(&d->au, loop, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS,
                           NULL);
  if (st != ARES_SUCCESS) {
    snprintf(r->error, sizeof r->error, "cannot start the resolver (c-ares): %s", ares_strerror(st));
    finish(d, JN_EXIT_DNS);
    return 0;
  }
  ares_set_socket_callback(d->au.ch, sock_created, d);
  if (o->servers && (st = ares_set_servers_ports_csv(d->au.ch, o->servers)) != ARES_SUCCESS) {
    snprintf(r->error, sizeof r->error, "bad --dns-servers \"%s\": %s (expected ip[:port],...)", o->servers,
             ares_strerror(st));
    finish(d, JN_EXIT_DNS);
    return 0;
  }
  r->dns_setup_us = jc_now_us() - setup0;
  /* The OS's DNS cache (the seed's second stop) is not something an application can query: it
   * sits behind a local stub server when there is one. Say which case this is. */
  {
    char list[256];
    servers_desc(d, list, sizeof list);
    if (strstr(list, "127.0.0.53:53"))
      step(d, "os-cache", "skipped", 0, "the DNS server is systemd-resolved's stub (127.0.0.53): its cache may answer");
    else
      step(d, "os-cache", "skipped", 0, "no local caching stub among the DNS servers (%.120s): journey asks them directly",
           list[0] ? list : "none");
  }
  /* 2. the hosts file. c-ares 1.18's ares_gethostbyname_file() ignores $CARES_HOSTS, so the
   * file is read through ares_getaddrinfo() with lookups "f" (files only) and ARES_AI_ENVHOSTS,
   * which honours it; for files c-ares answers synchronously. */
  {
    uint64_t t = jc_now_us();
    const char *hf = o->hosts_file ? o->hosts_file : getenv("CARES_HOSTS") ? getenv("CARES_HOSTS") : "/etc/hosts";
    struct ares_addrinfo_hints hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = ARES_AI_ENVHOSTS | ARES_AI_NOSORT;
    hints.ai_family = o->family == 4 ? AF_INET : o->family == 6 ? AF_INET6 : AF_UNSPEC;
    d->hosts_state = 1;
    ares_getaddrinfo(d->au.ch, host, NULL, &hints, hosts_done, d);
    if (d->hosts_state == 1) /* not answered synchronously: treat the file as silent */
      d->hosts_state = 3;
    if (r->answer_n) {
      jn_strlcpy(r->dns_source, "hosts", sizeof r->dns_source);
      step(d, "hosts", "hit", jc_now_us() - t, "%s", hf);
      finish(d, 0);
      return 0;
    }
    step(d, "hosts", "miss", jc_now_us() - t, "%s", hf);
  }
  /* 3. the DNS servers (the OS's own cache, if any, sits behind a local stub server) */
  int fams[2] = {o->family == 6 ? 6 : 4, o->family == 0 ? 6 : 0};
  for (int i = 0; i < 2 && fams[i]; i++) {
    qctxs[i] = (qctx){d, fams[i], jc_now_us()};
    d->pending++;
  }
  int n = d->pending;
  for (int i = 0; i < n && !d->finished; i++)
    ares_search(d->au.ch, host, ns_c_in, fams[i] == 6 ? ns_t_aaaa : ns_t_a, query_done, &qctxs[i]);
  if (!d->finished)
    jc_ares_uv_update(&d->au);
  return 0;
}

static void timer_closed(uv_handle_t *h) { (void)h; }

void jn_dns_close(jn_dns *d) {
  d->finished = 1;
  jc_ares_uv_close(&d->au, timer_closed); /* after c-ares returns, when called from its callback */
}
