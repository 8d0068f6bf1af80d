/* The admin plane's listeners and connections, on the control loop:
 *   --admin IP:PORT        the page and the read-only endpoints for anyone who reaches it; the
 *                          mutations with a bearer token (--admin-token-file) or, with neither
 *                          a token nor a socket configured, from loopback peers only
 *   --admin-socket PATH    a UNIX socket (mode 0600, the service's user): everything
 *   --probe-listen IP:PORT GET/HEAD /healthz only (an upstream L4 balancer's probe)
 * Before any endpoint: the Host header must be an IP literal or an --admin-name, an Origin
 * must be the listener's own (lb/admin_policy.h). Each listener has its own connection cap
 * (--admin-max-connections): at the cap the next connection waits in the kernel's backlog (no
 * file descriptor spent), so idle admin connections cannot take the data plane's descriptors.
 * One request per connection, at most 8 KiB, answered within --admin-timeout. The endpoints
 * themselves are in admin_views.c. Every admin request is logged on stdout (msg=admin) except
 * Azure's probes (source 168.63.129.16), which would otherwise fill the log, and GET /healthz,
 * which is logged at debug. */
#include "lb/control/admin_views.h"

#include "common/addr.h"
#include "common/buf.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ADMIN_REQ_MAX 8192
#define ADMIN_OUT_MAX (8u * 1024 * 1024)

typedef struct admin_conn admin_conn;

/* A listener or a connection: TCP, or a UNIX socket for --admin-socket. */
typedef union admin_handle {
  uv_tcp_t tcp;
  uv_pipe_t pipe;
  uv_stream_t stream;
  uv_handle_t handle;
} admin_handle;

typedef enum { KIND_TCP = 0, KIND_UNIX = 1, KIND_PROBE = 2, KIND_COUNT } listener_kind;

typedef struct admin_listener {
  admin_handle h;
  listener_kind kind;
  int on;
  unsigned nconns;
  int paused;         /* at the cap: a connection waits unaccepted, the listener is not polled */
  uint64_t warned_ms; /* last "at the cap" warning (loop time) */
  char addr[LB_ADMIN_PATH_MAX];
  struct lb_admin *ad;
} admin_listener;

struct lb_admin {
  lb_control *ctl;
  admin_listener l[KIND_COUNT];
  admin_conn *conns; /* open connections: closed with the listeners at shutdown */
  uint8_t token[32]; /* SHA-256 of the bearer token */
  int has_token;
  int open_handles; /* listeners and connections not yet closed */
  int closed;       /* lb_admin_close ran: freed when the last handle is closed */
};

typedef struct span {
  const char *p;
  size_t n;
} span;

struct admin_conn {
  admin_handle h;
  uv_timer_t timer;
  uv_write_t wreq;
  lb_admin *ad;
  admin_listener *l;
  admin_conn *next, *prev;
  int handles;
  int responded;
  int loopback;
  llhttp_t parser;
  span url, field, value, host, origin, authz, accept, fetch_site;
  span *cur; /* header whose value is being read, or NULL */
  char body[64];
  size_t body_len;
  char peer[64];
  char in[ADMIN_REQ_MAX];
  size_t in_len;
  jc_buf out;
};

static const char *listener_name(listener_kind k) {
  return k == KIND_UNIX ? "admin-socket" : k == KIND_PROBE ? "probe-listen" : "admin";
}

static void accept_one(admin_listener *l);

static void on_conn_closed(uv_handle_t *h) {
  admin_conn *a = h->data;
  if (--a->handles > 0)
    return;
  admin_listener *l = a->l;
  lb_admin *ad = a->ad;
  jc_buf_free(&a->out);
  free(a);
  l->nconns--;
  if (--ad->open_handles == 0 && ad->closed) {
    free(ad);
    return;
  }
  if (l->paused && l->on) {
    l->paused = 0;
    accept_one(l);
  }
}

static void conn_close(admin_conn *a) {
  if (uv_is_closing(&a->h.handle))
    return;
  if (a->prev)
    a->prev->next = a->next;
  else
    a->ad->conns = a->next;
  if (a->next)
    a->next->prev = a->prev;
  a->next = a->prev = NULL;
  uv_close(&a->h.handle, on_conn_closed);
  uv_close((uv_handle_t *)&a->timer, on_conn_closed);
}

static void on_written(uv_write_t *req, int status) {
  (void)status;
  conn_close(req->data);
}

static const char *reason_of(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 303:
    return "See Other";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 503:
    return "Service Unavailable";
  default:
    return "Internal Server Error";
  }
}

static void respond(admin_conn *a, const lb_admin_resp *rs, int head_only) {
  char head[512];
  size_t len = rs->body ? jc_buf_len(rs->body) : strlen(rs->text);
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                   "X-Frame-Options: DENY\r\nContent-Security-Policy: default-src 'none'; "
                   "style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; "
                   "img-src data:; form-action 'self'; frame-ancestors 'none'\r\n"
                   "%sConnection: close\r\n\r\n",
                   rs->status, reason_of(rs->status), rs->ctype, len, rs->headers);
  jc_buf_reset(&a->out, 0);
  if (n < 0 || (size_t)n >= sizeof head || jc_buf_append(&a->out, head, (size_t)n) != 0 ||
      (!head_only &&
       jc_buf_append(&a->out, rs->body ? (const char *)jc_buf_peek(rs->body) : rs->text, len) !=
           0)) {
    conn_close(a);
    return;
  }
  a->responded = rs->status;
  uv_timer_stop(&a->timer);
  uv_buf_t b = uv_buf_init((char *)jc_buf_peek(&a->out), (unsigned)jc_buf_len(&a->out));
  a->wreq.data = a;
  if (uv_write(&a->wreq, &a->h.stream, &b, 1, on_written) != 0)
    conn_close(a);
}

static void text(admin_conn *a, int status, const char *msg, const char *headers) {
  lb_admin_resp rs = {.status = status,
                      .ctype = "text/plain; charset=utf-8",
                      .text = msg,
                      .headers = headers ? headers : ""};
  respond(a, &rs, 0);
}

static void access_line(admin_conn *a, const char *method, const char *level) {
  if (lb_admin_is_azure_probe(a->peer))
    return;
  /* /healthz exists for probes (Docker's healthcheck, an L4 balancer): every few seconds, all
   * alike, so at debug; a failing one shows in the LB's own state lines. */
  jc_log_level lvl = a->url.n == 8 && !memcmp(a->url.p, "/healthz", 8) ? JC_LOG_DEBUG
                                                                         : JC_LOG_INFO;
  if (!jc_log_enabled(lvl))
    return;
  jc_logline l;
  jc_log_begin(&l, lvl, "admin");
  jc_logline_str(&l, "client", a->peer);
  jc_logline_str(&l, "method", method);
  char path[512];
  snprintf(path, sizeof path, "%.*s", (int)a->url.n, a->url.p ? a->url.p : "");
  jc_logline_str(&l, "path", path);
  jc_logline_int(&l, "status", a->responded);
  jc_logline_str(&l, "listener", listener_name(a->l->kind));
  jc_logline_str(&l, "level", level);
  jc_logline_write(&l, 1);
}

static const char *level_name(lb_admin_level v) {
  return v == LB_ADMIN_WRITE ? "write" : v == LB_ADMIN_READ ? "read" : "probe";
}

static int span_has(span s, const char *needle) {
  size_t nl = strlen(needle);
  for (size_t i = 0; i + nl <= s.n; i++)
    if (!strncasecmp(s.p + i, needle, nl))
      return 1;
  return 0;
}

/* Host and Origin first (cross-site and rebinding), then the level, then the endpoint. */
static void dispatch(admin_conn *a) {
  lb_admin *ad = a->ad;
  const lb_admin_cfg *cfg = &ad->ctl->rt->cfg.adm;
  int m = a->parser.method;
  const char *method = llhttp_method_name((llhttp_method_t)m);
  lb_admin_level level = LB_ADMIN_PROBE;
  char path[512];
  snprintf(path, sizeof path, "%.*s", (int)a->url.n, a->url.p ? a->url.p : "");
  char *q = strchr(path, '?');
  if (q)
    *q++ = 0;
  int token_ok = 0;
  const char *tok;
  size_t tl;
  if (a->authz.n && lb_admin_bearer(a->authz.p, a->authz.n, &tok, &tl) == 0)
    token_ok = ad->has_token && lb_admin_token_match(ad->token, tok, tl);
  if (a->l->kind != KIND_UNIX) {
    if (!lb_admin_host_ok(cfg, a->host.p, a->host.n)) {
      text(a, 403,
           "forbidden: the Host header must be the admin listener's IP address or a "
           "name given with --admin-name\n",
           NULL);
      goto out;
    }
    if (!lb_admin_origin_ok(a->origin.p, a->origin.n, a->host.p, a->host.n) ||
        (m != HTTP_GET && m != HTTP_HEAD && a->fetch_site.n &&
         span_has(a->fetch_site, "cross-site"))) { /* a link from elsewhere may open the page */
      text(a, 403, "forbidden: a request from another site (Origin) is refused\n", NULL);
      goto out;
    }
  }
  if (a->l->kind == KIND_PROBE) {
    if (strcmp(path, "/healthz") != 0) {
      text(a, 404, "not found: this listener answers /healthz only\n", NULL);
      goto out;
    }
  } else if (a->l->kind == KIND_UNIX) {
    level = LB_ADMIN_WRITE;
  } else {
    level = lb_admin_tcp_level(cfg, token_ok, a->loopback);
  }
  if (a->authz.n && !token_ok && a->l->kind == KIND_TCP) {
    /* A wrong token is refused even on a read-only endpoint: the caller believes it has one. */
    text(a, 401, "unauthorized: the bearer token does not match --admin-token-file\n",
         "WWW-Authenticate: Bearer realm=\"journey-lb admin\", error=\"invalid_token\"\r\n");
    jc_log(JC_LOG_WARN, "admin: request from %s with a wrong bearer token refused", a->peer);
    goto out;
  }
  lb_admin_req rq = {.ctl = ad->ctl,
                     .method = m,
                     .path = path,
                     .query = q ? q : "",
                     .body = a->body,
                     .body_len = a->body_len,
                     .level = level,
                     .peer = a->peer,
                     .browser_form = span_has(a->accept, "text/html"),
                     .token_configured = ad->has_token,
                     .socket_configured = cfg->socket[0] != 0};
  jc_buf body;
  jc_buf_init(&body, ADMIN_OUT_MAX);
  lb_admin_resp rs = {.status = 500,
                      .ctype = "text/plain; charset=utf-8",
                      .headers = "",
                      .text = "internal error\n"};
  lb_admin_serve(&rq, &rs, &body);
  respond(a, &rs, m == HTTP_HEAD);
  jc_buf_free(&body);
out:
  access_line(a, method, level_name(level));
}

/* ---- connection ---- */

static int add(span *s, const char *at, size_t n, size_t max) {
  if (s->p && s->p + s->n == at) /* a value split across reads: `in` keeps it contiguous */
    s->n += n;
  else {
    s->p = at;
    s->n = n;
  }
  return s->n > max ? -1 : 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  return add(&((admin_conn *)p->data)->url, at, n, 511);
}

static int on_field(llhttp_t *p, const char *at, size_t n) {
  admin_conn *a = p->data;
  if (a->cur || a->value.p) { /* a new field begins */
    a->field.p = NULL;
    a->value.p = NULL;
    a->cur = NULL;
  }
  add(&a->field, at, n, 64); /* a longer name is not one we read */
  return 0;
}

static int on_value(llhttp_t *p, const char *at, size_t n) {
  admin_conn *a = p->data;
  if (!a->cur) {
    static const struct {
      const char *name;
      size_t off;
    } known[] = {{"host", offsetof(admin_conn, host)},
                 {"origin", offsetof(admin_conn, origin)},
                 {"authorization", offsetof(admin_conn, authz)},
                 {"accept", offsetof(admin_conn, accept)},
                 {"sec-fetch-site", offsetof(admin_conn, fetch_site)}};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
      if (a->field.n == strlen(known[i].name) &&
          !strncasecmp(a->field.p, known[i].name, a->field.n)) {
        a->cur = (span *)((char *)a + known[i].off);
        if (a->cur->p) /* a repeated Host/Origin/Authorization is not trusted */
          return -1;
      }
    if (!a->cur)
      a->cur = &a->value; /* a header we do not read */
  }
  a->value.p = a->value.p ? a->value.p : at;
  return a->cur == &a->value ? 0 : add(a->cur, at, n, 1024);
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  admin_conn *a = p->data;
  if (a->body_len + n >= sizeof a->body)
    return -1;
  memcpy(a->body + a->body_len, at, n);
  a->body_len += n;
  return 0;
}

static int on_complete(llhttp_t *p) {
  (void)p;
  return HPE_PAUSED;
}

static llhttp_settings_t admin_settings;

static void on_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  admin_conn *a = h->data;
  (void)s;
  *b = uv_buf_init(a->in + a->in_len, (unsigned)(sizeof a->in - a->in_len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  admin_conn *a = st->data;
  (void)buf;
  if (a->responded)
    return;
  if (nread < 0) {
    conn_close(a);
    return;
  }
  if (nread == 0)
    return;
  size_t off = a->in_len;
  a->in_len += (size_t)nread;
  enum llhttp_errno e = llhttp_execute(&a->parser, a->in + off, (size_t)nread);
  if (e == HPE_PAUSED) {
    uv_read_stop(st);
    dispatch(a);
  } else if (e != HPE_OK) {
    text(a, 400, "bad request\n", NULL);
    access_line(a, "-", "-");
  } else if (a->in_len == sizeof a->in) {
    text(a, 400, "request too large\n", NULL);
    access_line(a, "-", "-");
  }
}

static void on_timeout(uv_timer_t *t) {
  admin_conn *a = t->data;
  if (a->in_len && !a->responded) {
    text(a, 408, "request not received in time\n", NULL);
    access_line(a, "-", "-");
  } else {
    conn_close(a);
  }
}

static void accept_one(admin_listener *l) {
  lb_admin *ad = l->ad;
  admin_conn *a = calloc(1, sizeof *a);
  if (!a)
    return;
  a->ad = ad;
  a->l = l;
  if (l->kind == KIND_UNIX)
    uv_pipe_init(ad->ctl->loop, &a->h.pipe, 0);
  else
    uv_tcp_init(ad->ctl->loop, &a->h.tcp);
  uv_timer_init(ad->ctl->loop, &a->timer);
  a->h.handle.data = a->timer.data = a;
  a->handles = 2;
  l->nconns++;
  ad->open_handles++;
  a->next = ad->conns;
  if (ad->conns)
    ad->conns->prev = a;
  ad->conns = a;
  jc_buf_init(&a->out, ADMIN_OUT_MAX);
  if (uv_accept(&l->h.stream, &a->h.stream) != 0) {
    conn_close(a);
    return;
  }
  if (l->kind == KIND_UNIX) {
    snprintf(a->peer, sizeof a->peer, "unix");
  } else {
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (uv_tcp_getpeername(&a->h.tcp, (struct sockaddr *)&ss, &sl) == 0) {
      jc_addr_ip((struct sockaddr *)&ss, a->peer, sizeof a->peer);
      a->loopback = jc_addr_is_loopback((struct sockaddr *)&ss);
    }
  }
  llhttp_init(&a->parser, HTTP_REQUEST, &admin_settings);
  a->parser.data = a;
  uv_timer_start(&a->timer, on_timeout, ad->ctl->rt->cfg.adm.timeout_ms, 0);
  uv_read_start(&a->h.stream, on_alloc, on_read);
}

static void on_connection(uv_stream_t *server, int status) {
  admin_listener *l = server->data;
  if (status < 0) {
    if (status == UV_EMFILE || status == UV_ENFILE)
      lb_fd_exhausted("the admin listener");
    return;
  }
  if (l->nconns >= l->ad->ctl->rt->cfg.adm.max_conns) {
    uint64_t now = uv_now(l->ad->ctl->loop);
    if (!l->warned_ms || now - l->warned_ms >= 10000) { /* once per 10 s */
      l->warned_ms = now;
      jc_log(JC_LOG_WARN,
             "%s %s: %u connections open (admin-max-connections): the next ones "
             "wait",
             listener_name(l->kind), l->addr, l->nconns);
    }
    l->paused = 1; /* libuv stops polling until the waiting one is accepted */
    return;
  }
  accept_one(l);
}

/* ---- start and stop ---- */

static int load_token(lb_admin *ad, const char *path, char *err, size_t errlen) {
  char why[400];
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    snprintf(err, errlen,
             "admin token file %s: %s (create it with: umask 077; openssl rand "
             "-hex 32 > %s)",
             path, strerror(errno), path);
    return -1;
  }
  struct stat st;
  char buf[4097];
  ssize_t n = -1;
  if (fstat(fd, &st) != 0 ||
      lb_admin_token_mode_ok(st.st_mode, st.st_uid, geteuid(), path, why, sizeof why) != 0 ||
      (n = read(fd, buf, sizeof buf - 1)) < 0 ||
      lb_admin_token_parse(buf, (size_t)n, ad->token, why, sizeof why) != 0) {
    close(fd);
    snprintf(err, errlen, "%s", n < 0 && errno ? strerror(errno) : why);
    if (strncmp(err, "admin token", 11) != 0)
      snprintf(err, errlen, "admin token file %s: %s", path, why);
    return -1;
  }
  close(fd);
  ad->has_token = 1;
  return 0;
}

static int listen_tcp(lb_admin *ad, listener_kind k, const char *addr, char *err, size_t el) {
  admin_listener *l = &ad->l[k];
  struct sockaddr_storage ss;
  socklen_t sl;
  char e[200];
  if (jc_addr_parse(addr, &ss, &sl, e, sizeof e) != 0) {
    snprintf(err, el, "%s '%s': %s (expected IP:PORT, e.g. 127.0.0.1:9000)", listener_name(k), addr,
             e);
    return -1;
  }
  uv_tcp_init(ad->ctl->loop, &l->h.tcp);
  l->on = 1;
  ad->open_handles++;
  int r = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&ss, 0);
  if (r == 0)
    r = uv_listen(&l->h.stream, 128, on_connection);
  if (r != 0) {
    if (r == UV_EADDRINUSE) /* no SO_REUSEPORT here: a second process is always refused */
      snprintf(err, el,
               "%s listener %s is already in use by another process; stop it or "
               "choose another --%s",
               listener_name(k), addr, listener_name(k));
    else
      snprintf(err, el, "%s listener %s: %s", listener_name(k), addr, uv_strerror(r));
    return -1;
  }
  return 0;
}

/* The socket file is made with umask 0177 (mode 0600 from the first instant, owned by the
 * process's user); a stale file from a crashed run is replaced only when nobody answers on it. */
static int listen_unix(lb_admin *ad, const char *path, char *err, size_t el) {
  admin_listener *l = &ad->l[KIND_UNIX];
  struct stat st;
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      snprintf(err, el,
               "admin-socket %s exists and is not a socket: remove it or choose "
               "another path",
               path);
      return -1;
    }
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    size_t plen = strlen(path); // the config refuses longer paths; checked again for the copy
    if (plen >= sizeof su.sun_path)
      plen = sizeof su.sun_path - 1;
    memcpy(su.sun_path, path, plen);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int live = fd >= 0 && connect(fd, (struct sockaddr *)&su, sizeof su) == 0;
    if (fd >= 0)
      close(fd);
    if (live) {
      snprintf(err, el,
               "admin-socket %s: another process is listening on it; stop it or "
               "choose another path",
               path);
      return -1;
    }
    unlink(path); /* left by a process that is gone */
  }
  uv_pipe_init(ad->ctl->loop, &l->h.pipe, 0);
  l->on = 1;
  ad->open_handles++;
  mode_t old = umask(0177);
  int r = uv_pipe_bind(&l->h.pipe, path);
  umask(old);
  if (r == 0 && chmod(path, 0600) != 0)
    r = uv_translate_sys_error(errno);
  if (r == 0)
    r = uv_listen(&l->h.stream, 128, on_connection);
  if (r != 0) {
    snprintf(err, el,
             "admin-socket %s: %s (the directory must exist and be writable by the "
             "service's user)",
             path, uv_strerror(r));
    return -1;
  }
  return 0;
}

int lb_admin_start(lb_control *ctl, char *err, size_t errlen) {
  const lb_config *cfg = &ctl->rt->cfg;
  if (!cfg->admin[0] && !cfg->adm.socket[0] && !cfg->adm.probe[0])
    return 0;
  llhttp_settings_init(&admin_settings);
  admin_settings.on_url = on_url;
  admin_settings.on_header_field = on_field;
  admin_settings.on_header_value = on_value;
  admin_settings.on_body = on_body;
  admin_settings.on_message_complete = on_complete;
  lb_admin *ad = calloc(1, sizeof *ad);
  if (!ad) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  ad->ctl = ctl;
  ctl->admin = ad;
  for (int k = 0; k < KIND_COUNT; k++) {
    ad->l[k].kind = (listener_kind)k;
    ad->l[k].ad = ad;
    ad->l[k].h.handle.data = &ad->l[k];
  }
  snprintf(ad->l[KIND_TCP].addr, LB_ADMIN_PATH_MAX, "%s", cfg->admin);
  snprintf(ad->l[KIND_UNIX].addr, LB_ADMIN_PATH_MAX, "%s", cfg->adm.socket);
  snprintf(ad->l[KIND_PROBE].addr, LB_ADMIN_PATH_MAX, "%s", cfg->adm.probe);
  if ((cfg->adm.token_file[0] && load_token(ad, cfg->adm.token_file, err, errlen) != 0) ||
      (cfg->admin[0] && listen_tcp(ad, KIND_TCP, cfg->admin, err, errlen) != 0) ||
      (cfg->adm.probe[0] && listen_tcp(ad, KIND_PROBE, cfg->adm.probe, err, errlen) != 0) ||
      (cfg->adm.socket[0] && listen_unix(ad, cfg->adm.socket, err, errlen) != 0)) {
    lb_admin_close(ctl);
    return -1;
  }
  if (cfg->admin[0]) {
    const char *who = ad->has_token        ? "mutations need the bearer token of --admin-token-file"
                      : cfg->adm.socket[0] ? "mutations only over --admin-socket"
                                           : "no --admin-token-file or --admin-socket: mutations "
                                             "(POST /servers/...) are accepted from loopback "
                                             "peers only";
    jc_log(JC_LOG_INFO,
           "admin listener on http://%s (page at /, /healthz /stats /requests "
           "/metrics read-only; %s)",
           cfg->admin, who);
  }
  if (cfg->adm.socket[0])
    jc_log(JC_LOG_INFO, "admin socket %s (mode 0600): every endpoint, mutations included",
           cfg->adm.socket);
  if (cfg->adm.probe[0])
    jc_log(JC_LOG_INFO, "probe listener on http://%s: /healthz only", cfg->adm.probe);
  return 0;
}

static void on_listener_closed(uv_handle_t *h) {
  admin_listener *l = h->data;
  lb_admin *ad = l->ad;
  if (--ad->open_handles == 0)
    free(ad);
}

void lb_admin_close(lb_control *ctl) {
  lb_admin *ad = ctl->admin;
  if (!ad)
    return;
  ctl->admin = NULL;
  ad->closed = 1;
  for (int k = 0; k < KIND_COUNT; k++)
    ad->l[k].on = 0; /* no accept from a closing connection's callback */
  while (ad->conns)
    conn_close(ad->conns);
  for (int k = 0; k < KIND_COUNT; k++)
    if (uv_is_active(&ad->l[k].h.handle) || ad->l[k].h.handle.loop) {
      if (!uv_is_closing(&ad->l[k].h.handle))
        uv_close(&ad->l[k].h.handle, on_listener_closed);
    }
  if (ad->l[KIND_UNIX].addr[0] && ad->l[KIND_UNIX].h.handle.loop)
    unlink(ad->l[KIND_UNIX].addr);
  if (ad->open_handles == 0)
    free(ad);
}
