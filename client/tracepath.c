#include "client/tracepath.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/clock.h"

/* Reads one queued error: 1 with the answer's origin and ICMP type, 0 when none is queued. */
static int read_error(int fd, int v6, struct sockaddr_storage *from, int *type, int *code) {
  char cbuf[512], data[64];
  struct iovec iov = {data, sizeof data};
  struct msghdr m = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  if (recvmsg(fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
    return 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if ((!v6 && c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
        (v6 && c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
      struct sock_extended_err *e = (struct sock_extended_err *)CMSG_DATA(c);
      const struct sockaddr *off = SO_EE_OFFENDER(e);
      memset(from, 0, sizeof *from);
      memcpy(from, off, v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
      *type = e->ee_type;
      *code = e->ee_code;
      return e->ee_origin == SO_EE_ORIGIN_ICMP || e->ee_origin == SO_EE_ORIGIN_ICMP6 ? 1 : 0;
    }
  }
  return 0;
}

static void ip_only(const struct sockaddr *a, char *buf, size_t len) {
  const void *p = a->sa_family == AF_INET6
                      ? (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr
                      : (const void *)&((const struct sockaddr_in *)a)->sin_addr;
  if (!inet_ntop(a->sa_family, p, buf, (socklen_t)len))
    buf[0] = 0;
}

int jn_tracepath(const struct sockaddr *dst, socklen_t len, int max_hops, int wait_ms,
                 int budget_ms, jn_result *r) {
  struct jn_path *pa = &r->path;
  memset(pa, 0, sizeof *pa);
  int v6 = dst->sa_family == AF_INET6, on = 1;
  if (max_hops > (int)(sizeof pa->hops / sizeof pa->hops[0]))
    max_hops = (int)(sizeof pa->hops / sizeof pa->hops[0]);
  int fd = socket(dst->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 ||
      setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_RECVERR : IP_RECVERR, &on, sizeof on) != 0 ||
      connect(fd, dst, len) != 0) {
    snprintf(pa->note, sizeof pa->note, "no probe sent: %s", strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  pa->probed = 1;
  char dst_ip[64];
  ip_only(dst, dst_ip, sizeof dst_ip);
  uint64_t start = jc_now_us();
  for (int ttl = 1; ttl <= max_hops && !pa->reached; ttl++) {
    if ((jc_now_us() - start) / 1000 > (uint64_t)budget_ms) {
      snprintf(pa->note, sizeof pa->note, "stopped after %d ms (the time budget), at TTL %d",
               budget_ms, ttl);
      break;
    }
    struct jn_path_hop *h = &pa->hops[pa->hop_n++];
    h->ttl = ttl;
    jn_strlcpy(h->kind, "no-answer", sizeof h->kind);
    if (setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_UNICAST_HOPS : IP_TTL, &ttl, sizeof ttl) !=
        0)
      break;
    uint64_t t0 = jc_now_us();
    char probe[32] = "journey trace-path probe";
    if (send(fd, probe, sizeof probe, 0) < 0 && errno != ECONNREFUSED && errno != EHOSTUNREACH)
      break;
    for (;;) {
      int left = wait_ms - (int)((jc_now_us() - t0) / 1000);
      struct pollfd p = {fd, POLLIN | POLLERR, 0};
      if (left <= 0 || poll(&p, 1, left) <= 0)
        break;
      struct sockaddr_storage from;
      int type = 0, code = 0;
      if (!(p.revents & POLLERR) || !read_error(fd, v6, &from, &type, &code)) {
        char sink[64];
        if (recv(fd, sink, sizeof sink, MSG_DONTWAIT) >=
            0) { /* a UDP service answered: the destination */
          jn_strlcpy(h->addr, dst_ip, sizeof h->addr);
          jn_strlcpy(h->kind, "destination", sizeof h->kind);
          h->rtt_us = (uint32_t)(jc_now_us() - t0);
          pa->reached = 1;
          break;
        }
        continue;
      }
      h->rtt_us = (uint32_t)(jc_now_us() - t0);
      ip_only((struct sockaddr *)&from, h->addr, sizeof h->addr);
      int exceeded = v6 ? type == 3 : type == 11; /* ICMPv6 time exceeded is 3, ICMP's 11 */
      if (exceeded && strcmp(h->addr, dst_ip) != 0) {
        jn_strlcpy(h->kind, "router", sizeof h->kind);
      } else {
        jn_strlcpy(h->kind, "destination", sizeof h->kind);
        pa->reached = 1;
      }
      break;
    }
  }
  close(fd);
  if (pa->reached && pa->hop_n == 1)
    snprintf(pa->note, sizeof pa->note, "no hop: the destination %s answered at TTL 1 (%s)", dst_ip,
             r->loopback ? "it is this machine: local delivery" : "it is on the local network");
  else if (pa->reached)
    snprintf(pa->note, sizeof pa->note, "%d router%s, then the destination %s at TTL %d",
             pa->hop_n - 1, pa->hop_n == 2 ? "" : "s", dst_ip, pa->hop_n);
  else if (!pa->note[0])
    snprintf(pa->note, sizeof pa->note,
             "the destination did not answer within %d TTLs (probes filtered?)", max_hops);
  return 0;
}
