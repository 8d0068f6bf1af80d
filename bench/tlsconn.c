/* tlsconn: a small, bounded loopback load client for the two benchmarks wrk and h2load cannot do.
 *
 *   tlsconn rate --connect IP:PORT [--tls] [--resume] [--tls-max 1.2|1.3] [--ca FILE] [--procs N]
 *                [--concurrency N] [--duration S] [--count N]
 *   tlsconn hold --connect IP:PORT [--tls] [--ca FILE] --count N [--concurrency N] [--timeout S]
 *                [--websocket]
 *
 * rate: every request on a new connection ("Connection: close"), C connections in flight, for S
 *       seconds; with --resume each new TLS connection offers the session ticket the server
 *       gave that slot's previous connection (TLS 1.3 PSK / TLS 1.2 ticket or session id), so
 *       the server does an abbreviated handshake.
 *       --count N: stop after N connections (or S seconds, whichever comes first), for
 *       measurements by count (callgrind). --tls-max: the highest TLS version offered (1.3).
 *       Prints: connections=N ok=N failed=N resumed=N elapsed_s=X per_s=Y
 * hold: opens N keep-alive connections (C handshakes in flight at a time), one request each, reads
 *       each whole response, then holds them all idle and prints "held=N failed=M elapsed_s=X".
 *       It keeps holding until stdin reaches end of file, SIGTERM/SIGINT, or --timeout seconds.
 *       --websocket: the one request is a WebSocket opening handshake for /ws (journey-backend's
 *       echo) and the answer must be 101: what is held is then an idle tunnel through the proxy.
 *
 * Only loopback addresses are accepted: this is a benchmark tool, not a traffic generator.
 *
 * The client's own cost per handshake is kept low, so that it is the server's that is measured,
 * the same way for every server: one SSL_CTX; one SSL object per slot, SSL_clear()ed between its
 * connections; X25519 key share and TLS_AES_128_GCM_SHA256 first (what browsers and curl offer;
 * HAProxy prefers it too); no session kept unless --resume; --procs N processes, each with
 * C/N connections in flight. --ca FILE verifies the certificate chain and the name "localhost"
 * against FILE, once per distinct leaf certificate: a later connection presenting the same
 * certificate bytes is accepted without repeating the chain check (without --ca nothing is
 * verified, like wrk and h2load, and the chain check OpenSSL would otherwise attempt and fail
 * is skipped too). The CertificateVerify signature is checked on every handshake: it proves the
 * server holds the key.
 * Build: cc -O2 bench/tlsconn.c -o tlsconn -lssl -lcrypto (bench/run.sh does it). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum conn_state { ST_FREE, ST_CONNECTING, ST_HANDSHAKE, ST_SENDING, ST_READING, ST_HELD };

typedef struct conn {
  SSL_SESSION *session; /* this slot's latest ticket: kept across its connections */
  SSL *ssl_spare;       /* this slot's SSL object, SSL_clear()ed for its next connection */
  enum conn_state state;
  int fd;
  SSL *ssl;
  size_t sent;
  char head[4096]; /* response head accumulated until the blank line */
  size_t head_len;
  long body_left; /* -1: head not complete yet */
} conn;

static struct {
  bool hold, tls, resume, websocket;
  const char *ca;
  int procs;
  int tls_max; /* TLS1_2_VERSION or TLS1_3_VERSION */
  struct sockaddr_storage addr;
  socklen_t addr_len;
  int concurrency;
  double duration, timeout;
  long count;
} opt = {.concurrency = 64, .duration = 5, .timeout = 120, .count = 0, .procs = 1,
       .tls_max = TLS1_3_VERSION};

static SSL_CTX *ctx;
static int epfd;
static volatile sig_atomic_t stop_signal;
static long n_started, n_ok, n_failed, n_resumed, n_held, n_in_progress;
static char request[256];
static size_t request_len;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_signal(int sig) { (void)sig; stop_signal = 1; }

/* Certificate check with --ca: the full X509_verify_cert() once per distinct leaf; the same
 * certificate bytes again (every connection of a benchmark) are known good. Without --ca:
 * accepted unchecked, as with SSL_VERIFY_NONE, minus the failing chain build OpenSSL runs anyway. */
static X509 *verified_leaf;

static int verify_cert(X509_STORE_CTX *xs, void *arg) {
  (void)arg;
  if (!opt.ca)
    return 1;
  X509 *leaf = X509_STORE_CTX_get0_cert(xs);
  if (verified_leaf && leaf && X509_cmp(leaf, verified_leaf) == 0)
    return 1;
  if (X509_verify_cert(xs) != 1)
    return 0;
  if (verified_leaf)
    X509_free(verified_leaf);
  X509_up_ref(leaf);
  verified_leaf = leaf;
  return 1;
}

/* Each slot resumes with the ticket its own previous connection got, as a real client would
 * (servers may accept a TLS 1.3 ticket once only). */
static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
  conn *c = SSL_get_app_data(ssl);
  if (c->session)
    SSL_SESSION_free(c->session);
  c->session = sess; /* returning 1 keeps the reference OpenSSL gave us */
  return 1;
}

static void usage(FILE *f) {
  fputs("usage: tlsconn rate --connect IP:PORT [--tls] [--resume] [--tls-max 1.2|1.3] [--ca FILE]\n"
        "                    [--procs N] [--concurrency N] [--duration S] [--count N]\n"
        "       tlsconn hold --connect IP:PORT [--tls] [--ca FILE] --count N [--concurrency N]\n"
        "                    [--timeout S] [--websocket]\n"
        "rate: a new connection per request (Connection: close) for S seconds (default 5),\n"
        "      N in flight (default 64) over --procs processes (default 1); --resume offers the\n"
        "      previous connection's ticket; --count N: stop after N connections;\n"
        "      --tls-max: the highest TLS version offered (default 1.3).\n"
        "--ca: verify the server's certificate (and the name localhost) against FILE.\n"
        "hold: N keep-alive connections, one request each, then held idle until stdin closes,\n"
        "      SIGTERM/SIGINT or --timeout S (default 120). Loopback addresses only.\n"
        "      --websocket: the request is a WebSocket handshake for /ws, the answer must be 101\n"
        "      (an idle tunnel through a proxy is what is held).\n",
        f);
}

static int parse_addr(const char *s) {
  char host[64];
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s || (size_t)(colon - s) >= sizeof host)
    return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = 0;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port < 1 || port > 65535)
    return -1;
  char *h = host;
  size_t hl = strlen(h);
  if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
    h[hl - 1] = 0;
    h++;
  }
  struct sockaddr_in *a4 = (struct sockaddr_in *)&opt.addr;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&opt.addr;
  if (inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
    if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
      return -2;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    opt.addr_len = sizeof *a4;
  } else if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
      return -2;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    opt.addr_len = sizeof *a6;
  } else {
    return -1;
  }
  return 0;
}

static void watch(conn *c, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(epfd, op, c->fd, &ev) < 0) {
    perror("tlsconn: epoll_ctl");
    exit(1);
  }
}

static void conn_close(conn *c, bool ok) {
  if (c->ssl) {
    /* Mark the shutdown done without I/O: OpenSSL then keeps the session resumable. A failed
     * connection's SSL is not reused (SSL_clear keeps some of a failed handshake's state). */
    SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    if (!ok || !SSL_clear(c->ssl)) {
      SSL_free(c->ssl);
      c->ssl_spare = NULL;
    }
    c->ssl = NULL;
  }
  if (c->fd >= 0)
    close(c->fd); /* also removes it from the epoll set */
  c->fd = -1;
  if (c->state != ST_HELD)
    n_in_progress--;
  c->state = ST_FREE;
  if (ok)
    n_ok++;
  else
    n_failed++;
}

static void conn_start(conn *c) {
  c->ssl = NULL;
  c->sent = 0;
  c->head_len = 0;
  c->body_left = -1;
  c->fd = socket(opt.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    perror("tlsconn: socket (raise ulimit -n?)");
    exit(1);
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  n_started++;
  n_in_progress++;
  c->state = ST_CONNECTING;
  if (connect(c->fd, (struct sockaddr *)&opt.addr, opt.addr_len) < 0 && errno != EINPROGRESS) {
    conn_close(c, false);
    return;
  }
  watch(c, EPOLLOUT, EPOLL_CTL_ADD);
}

/* TLS or plain I/O; returns >0 bytes, 0 on EOF, -1 would block (events set), -2 error. */
static int io_result(conn *c, int r, bool is_write) {
  if (!c->ssl) {
    if (r > 0)
      return r;
    if (r == 0 && !is_write)
      return 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      watch(c, is_write ? EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
      return -1;
    }
    return -2;
  }
  if (r > 0)
    return r;
  switch (SSL_get_error(c->ssl, r)) {
  case SSL_ERROR_WANT_READ:
    watch(c, EPOLLIN, EPOLL_CTL_MOD);
    return -1;
  case SSL_ERROR_WANT_WRITE:
    watch(c, EPOLLOUT, EPOLL_CTL_MOD);
    return -1;
  case SSL_ERROR_ZERO_RETURN:
    return 0;
  default:
    ERR_clear_error();
    return -2;
  }
}

static int conn_recv(conn *c, char *buf, int cap) {
  int r = c->ssl ? SSL_read(c->ssl, buf, cap) : (int)recv(c->fd, buf, (size_t)cap, 0);
  return io_result(c, r, false);
}

/* Parses the response head once complete; returns false when it is not a 200 with a length. */
static bool head_parse(conn *c, size_t head_end) {
  if (c->head_len < 12 || memcmp(c->head, "HTTP/1.", 7) != 0 ||
      memcmp(c->head + 8, opt.websocket ? " 101" : " 200", 4) != 0)
    return false;
  if (opt.websocket) { /* switched: no body, the connection is now the tunnel */
    c->body_left = 0;
    return true;
  }
  c->head[head_end - 1] = 0;
  const char *p = c->head;
  long len = -1;
  while ((p = strchr(p, '\n')) != NULL) {
    p++;
    if (strncasecmp(p, "content-length:", 15) == 0)
      len = strtol(p + 15, NULL, 10);
  }
  if (len < 0 && opt.hold)
    return false; /* a held connection must know where its response ends */
  c->body_left = len < 0 ? 0 : len;
  return true;
}

static void conn_step(conn *c) {
  for (;;) {
    switch (c->state) {
    case ST_CONNECTING: {
      int err = 0;
      socklen_t l = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
      if (err) {
        conn_close(c, false);
        return;
      }
      if (opt.tls) {
        if (!c->ssl_spare) {
          c->ssl_spare = SSL_new(ctx);
          if (!c->ssl_spare) {
            conn_close(c, false);
            return;
          }
          SSL_set_app_data(c->ssl_spare, c);
          if (opt.ca)
            SSL_set1_host(c->ssl_spare, "localhost");
        }
        c->ssl = c->ssl_spare;
        SSL_set_fd(c->ssl, c->fd);
        SSL_set_tlsext_host_name(c->ssl, "localhost");
        SSL_set_session(c->ssl, opt.resume ? c->session : NULL);
        SSL_set_connect_state(c->ssl);
        c->state = ST_HANDSHAKE;
      } else {
        c->state = ST_SENDING;
      }
      break;
    }
    case ST_HANDSHAKE: {
      int r = io_result(c, SSL_do_handshake(c->ssl), true);
      if (r == -1)
        return;
      if (r < 0 || r == 0) {
        conn_close(c, false);
        return;
      }
      if (SSL_session_reused(c->ssl))
        n_resumed++;
      c->state = ST_SENDING;
      break;
    }
    case ST_SENDING: {
      const char *p = request + c->sent;
      int left = (int)(request_len - c->sent);
      int r = c->ssl ? SSL_write(c->ssl, p, left) : (int)send(c->fd, p, (size_t)left, MSG_NOSIGNAL);
      r = io_result(c, r, true);
      if (r == -1)
        return;
      if (r <= 0) {
        conn_close(c, false);
        return;
      }
      c->sent += (size_t)r;
      if (c->sent == request_len) {
        c->state = ST_READING;
        watch(c, EPOLLIN, EPOLL_CTL_MOD);
      }
      break;
    }
    case ST_READING: {
      char buf[16384];
      int r = conn_recv(c, buf, sizeof buf);
      if (r == -1)
        return;
      if (r == -2 || (r == 0 && (c->body_left < 0 || opt.hold))) {
        conn_close(c, false);
        return;
      }
      if (r == 0) { /* Connection: close: the server closed after the response */
        conn_close(c, true);
        return;
      }
      size_t off = 0;
      if (c->body_left < 0) {
        size_t take = (size_t)r;
        if (take > sizeof c->head - c->head_len)
          take = sizeof c->head - c->head_len;
        memcpy(c->head + c->head_len, buf, take);
        size_t scan_from = c->head_len >= 3 ? c->head_len - 3 : 0;
        c->head_len += take;
        char *end = memmem(c->head + scan_from, c->head_len - scan_from, "\r\n\r\n", 4);
        if (!end) {
          if (c->head_len == sizeof c->head) {
            conn_close(c, false);
            return;
          }
          break;
        }
        size_t head_end = (size_t)(end - c->head) + 4;
        if (!head_parse(c, head_end)) {
          conn_close(c, false);
          return;
        }
        off = head_end - (c->head_len - take); /* body bytes start here in buf */
      }
      c->body_left -= (long)((size_t)r - off);
      if (opt.hold && c->body_left <= 0) {
        c->state = ST_HELD; /* stays in the epoll set: a close by the server is noticed */
        n_in_progress--;
        n_held++;
        n_ok++;
        return;
      }
      break;
    }
    case ST_HELD: {
      char buf[256];
      int r = conn_recv(c, buf, sizeof buf);
      if (r == -1)
        return;
      n_held--; /* closed or unexpected bytes: no longer held */
      n_ok--;
      conn_close(c, false);
      return;
    }
    case ST_FREE:
      return;
    }
  }
}

/* One process's event loop: rate or hold, as the options say; prints its result line. */
static int run(void) {
  epfd = epoll_create1(EPOLL_CLOEXEC);
  long nconns = opt.hold ? opt.count : opt.concurrency;
  conn *conns = calloc((size_t)nconns, sizeof *conns);
  if (!conns || epfd < 0) {
    fputs("tlsconn: out of memory or no epoll\n", stderr);
    return 1;
  }
  for (long i = 0; i < nconns; i++)
    conns[i].fd = -1;

  double t0 = now_s(), end = t0 + (opt.hold ? opt.timeout : opt.duration);
  long next = 0; /* hold: next connection to open */
  bool announced = false;
  struct epoll_event evs[256];
  int stdin_open = opt.hold;
  while (!stop_signal) {
    double t = now_s();
    if (t >= end)
      break;
    if (opt.hold) {
      while (next < opt.count && n_in_progress < opt.concurrency)
        conn_start(&conns[next++]);
      if (!announced && next == opt.count && n_in_progress == 0) {
        printf("held=%ld failed=%ld elapsed_s=%.3f\n", n_held, n_failed, t - t0);
        fflush(stdout);
        announced = true;
        if (fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK) < 0)
          stdin_open = 0;
      }
    } else {
      if (opt.count && n_started >= opt.count && n_in_progress == 0)
        break;
      for (long i = 0; i < nconns && (!opt.count || n_started < opt.count); i++)
        if (conns[i].state == ST_FREE)
          conn_start(&conns[i]);
    }
    int timeout_ms = (int)((end - t) * 1000) + 1;
    if (timeout_ms > 200)
      timeout_ms = 200;
    if (announced && stdin_open) {
      /* Holding: wake up when stdin closes (the script's "done, let go"). */
      char b[64];
      ssize_t r = read(0, b, sizeof b);
      if (r == 0)
        break;
      if (r < 0 && errno != EAGAIN)
        stdin_open = 0;
    }
    int n = epoll_wait(epfd, evs, 256, timeout_ms);
    for (int i = 0; i < n; i++)
      conn_step(evs[i].data.ptr);
  }
  double elapsed = now_s() - t0;
  if (opt.hold) {
    if (!announced)
      printf("held=%ld failed=%ld elapsed_s=%.3f incomplete=%ld\n", n_held, n_failed, elapsed,
             opt.count - n_held - n_failed);
  } else {
    printf("connections=%ld ok=%ld failed=%ld resumed=%ld elapsed_s=%.3f per_s=%.1f\n",
           n_ok + n_failed, n_ok, n_failed, n_resumed, elapsed, (double)n_ok / elapsed);
  }
  for (long i = 0; i < nconns; i++) {
    if (conns[i].fd >= 0)
      close(conns[i].fd);
    if (conns[i].ssl_spare)
      SSL_free(conns[i].ssl_spare); /* conns[i].ssl is it, or NULL */
  }
  if (verified_leaf)
    X509_free(verified_leaf);
  for (long i = 0; i < nconns; i++)
    if (conns[i].session)
      SSL_SESSION_free(conns[i].session);
  free(conns);
  if (ctx)
    SSL_CTX_free(ctx);
  close(epfd);
  return opt.hold ? (announced && n_failed == 0 ? 0 : 1) : (n_ok > 0 ? 0 : 1);
}

/* --procs N: N processes, each with its share of --concurrency, started after the SSL_CTX is
 * made; their result lines are summed into one. SIGTERM/SIGINT are passed on to them. */
static int run_procs(void) {
  pid_t pids[64];
  FILE *outs[64];
  int share = opt.concurrency / opt.procs, extra = opt.concurrency % opt.procs;
  fflush(stdout);
  for (int i = 0; i < opt.procs; i++) {
    int fds[2];
    if (pipe(fds) != 0) {
      perror("tlsconn: pipe");
      return 1;
    }
    pids[i] = fork();
    if (pids[i] < 0) {
      perror("tlsconn: fork");
      return 1;
    }
    if (pids[i] == 0) {
      close(fds[0]);
      dup2(fds[1], 1);
      close(fds[1]);
      opt.concurrency = share + (i < extra);
      if (opt.count)
        opt.count = opt.count / opt.procs + (i < opt.count % opt.procs);
      int rc = run();
      fflush(stdout);
      _exit(rc);
    }
    close(fds[1]);
    outs[i] = fdopen(fds[0], "r");
  }
  long connections = 0, ok = 0, failed = 0, resumed = 0;
  double elapsed = 0;
  int rc = 1;
  for (int i = 0; i < opt.procs; i++) {
    char line[256];
    long c, o, f, r;
    double e, ps;
    for (;;) {
      if (fgets(line, sizeof line, outs[i])) {
        if (sscanf(line, "connections=%ld ok=%ld failed=%ld resumed=%ld elapsed_s=%lf per_s=%lf",
                   &c, &o, &f, &r, &e, &ps) == 6) {
          connections += c, ok += o, failed += f, resumed += r;
          elapsed = e > elapsed ? e : elapsed;
        }
        continue;
      }
      if (ferror(outs[i]) && errno == EINTR && stop_signal) {
        clearerr(outs[i]);
        for (int k = 0; k < opt.procs; k++)
          kill(pids[k], SIGTERM);
        continue;
      }
      break;
    }
    fclose(outs[i]);
  }
  for (int i = 0; i < opt.procs; i++) {
    int st;
    while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
      ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
      rc = 0;
  }
  if (elapsed <= 0)
    elapsed = 1e-9;
  printf("connections=%ld ok=%ld failed=%ld resumed=%ld elapsed_s=%.3f per_s=%.1f procs=%d\n",
         connections, ok, failed, resumed, elapsed, (double)ok / elapsed, opt.procs);
  return ok > 0 ? rc : 1;
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "hold"))
    opt.hold = true;
  else if (strcmp(argv[1], "rate") != 0) {
    fprintf(stderr, "tlsconn: unknown mode '%s' (rate or hold)\n", argv[1]);
    return 2;
  }
  bool have_addr = false;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--tls"))
      opt.tls = true;
    else if (!strcmp(a, "--websocket"))
      opt.websocket = true;
    else if (!strcmp(a, "--resume"))
      opt.resume = true;
    else if (v && !strcmp(a, "--ca"))
      opt.ca = v, i++;
    else if (v && !strcmp(a, "--procs"))
      opt.procs = atoi(v), i++;
    else if (v && !strcmp(a, "--connect")) {
      int r = parse_addr(v);
      if (r) {
        fprintf(stderr, "tlsconn: --connect '%s': %s\n", v,
                r == -2 ? "only loopback addresses (127.0.0.0/8, ::1)" : "expected IP:PORT");
        return 2;
      }
      have_addr = true;
      i++;
    } else if (v && !strcmp(a, "--concurrency"))
      opt.concurrency = atoi(v), i++;
    else if (v && !strcmp(a, "--duration"))
      opt.duration = atof(v), i++;
    else if (v && !strcmp(a, "--timeout"))
      opt.timeout = atof(v), i++;
    else if (v && !strcmp(a, "--count"))
      opt.count = atol(v), i++;
    else if (v && !strcmp(a, "--tls-max")) {
      if (strcmp(v, "1.2") && strcmp(v, "1.3")) {
        fprintf(stderr, "tlsconn: --tls-max '%s': 1.2 or 1.3\n", v);
        return 2;
      }
      opt.tls_max = !strcmp(v, "1.2") ? TLS1_2_VERSION : TLS1_3_VERSION;
      i++;
    }
    else {
      fprintf(stderr, "tlsconn: unknown or incomplete argument '%s' (see --help)\n", a);
      return 2;
    }
  }
  if (!have_addr) {
    fputs("tlsconn: --connect IP:PORT is required\n", stderr);
    return 2;
  }
  if (opt.concurrency < 1 || opt.concurrency > 10000 || opt.duration <= 0 || opt.duration > 600 ||
      opt.timeout <= 0 || opt.timeout > 3600 || (opt.hold && (opt.count < 1 || opt.count > 200000)) || opt.count < 0 ||
      opt.count > 100000000 ||
      opt.procs < 1 || opt.procs > 64 || opt.procs > opt.concurrency || (opt.hold && opt.procs > 1)) {
    fputs("tlsconn: limits: --concurrency 1..10000, --duration 0..600, --timeout 0..3600, "
          "--count 1..200000 (hold), --procs 1..64 and at most --concurrency (rate only)\n",
          stderr);
    return 2;
  }
  if (opt.websocket && !opt.hold) {
    fputs("tlsconn: --websocket is for hold\n", stderr);
    return 2;
  }
  if (opt.resume && !opt.tls) {
    fputs("tlsconn: --resume needs --tls\n", stderr);
    return 2;
  }
  request_len = (size_t)snprintf(request, sizeof request,
                                 "GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n",
                                 opt.websocket ? "/ws" : "/my-app/data",
                                 opt.websocket ? "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                                 "Sec-WebSocket-Version: 13\r\n"
                                 : opt.hold ? "" : "Connection: close\r\n");
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  if (opt.tls) {
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
      fputs("tlsconn: cannot create the OpenSSL client context\n", stderr);
      return 1;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, opt.tls_max);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
    /* What browsers offer first; the same for every server measured. */
    if (!SSL_CTX_set1_groups_list(ctx, "X25519:P-256") ||
        !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                       "TLS_CHACHA20_POLY1305_SHA256")) {
      fputs("tlsconn: this OpenSSL lacks X25519 or the TLS 1.3 ciphersuites\n", stderr);
      return 1;
    }
    if (opt.ca) {
      if (SSL_CTX_load_verify_locations(ctx, opt.ca, NULL) != 1) {
        fprintf(stderr, "tlsconn: --ca %s: cannot load it (a PEM CA certificate file)\n", opt.ca);
        return 2;
      }
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    SSL_CTX_set_cert_verify_callback(ctx, verify_cert, NULL);
    if (opt.resume) {
      SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
      SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    } else {
      SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
  }
  return opt.procs > 1 ? run_procs() : run();
}
