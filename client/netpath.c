#include "client/netpath.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/clock.h"

const char *jn_netpath_nud_name(unsigned st, char *buf, size_t len) {
  static const struct {
    unsigned bit;
    const char *name;
  } names[] = {{NUD_INCOMPLETE, "INCOMPLETE"}, {NUD_REACHABLE, "REACHABLE"}, {NUD_STALE, "STALE"},
               {NUD_DELAY, "DELAY"},           {NUD_PROBE, "PROBE"},         {NUD_FAILED, "FAILED"},
               {NUD_NOARP, "NOARP"},           {NUD_PERMANENT, "PERMANENT"}};
  size_t off = 0;
  buf[0] = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (st & names[i].bit) {
      int w = snprintf(buf + off, len - off, "%s%s", off ? "|" : "", names[i].name);
      if (w < 0 || (size_t)w >= len - off)
        break;
      off += (size_t)w;
    }
  if (!off)
    snprintf(buf, len, "NONE");
  return buf;
}

int jn_netpath_nud_usable(unsigned st) {
  return (st & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP)) != 0;
}

void jn_netpath_nat_note(const struct sockaddr *src, const struct sockaddr *dst, char *buf, size_t len) {
  char s[64];
  buf[0] = 0;
  if (jc_addr_is_loopback(dst) || jc_addr_is_loopback(src))
    return;
  jc_addr_ip(src, s, sizeof s);
  if (jc_addr_is_private(src) && !jc_addr_is_private(dst))
    snprintf(buf, len, "source %s is private: a NAT router on the way will rewrite it to a public address", s);
  else if (jc_addr_is_private(src))
    snprintf(buf, len, "source %s and destination are both private: no NAT expected on this path", s);
  else
    snprintf(buf, len, "source %s is public: no NAT needed", s);
}

/* ---- netlink ---- */

typedef struct route_q {
  int family;
  unsigned oif;
  unsigned char type;
  int have;
  unsigned char gw[16], src[16];
  int have_gw, have_src;
} route_q;

typedef struct neigh_q {
  int family;
  unsigned ifindex;
  unsigned char dst[16];
  int found;
  unsigned state;
  unsigned char mac[32];
  size_t maclen;
} neigh_q;

static int attr_cb(const struct nlattr *a, void *data) {
  const struct nlattr **tb = data;
  int type = mnl_attr_get_type(a);
  if (type >= 0 && type <= 32)
    tb[type] = a;
  return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *data) {
  route_q *q = data;
  const struct rtmsg *rm = mnl_nlmsg_get_payload(nlh);
  const struct nlattr *tb[33] = {0};
  mnl_attr_parse(nlh, sizeof *rm, attr_cb, tb);
  size_t alen = q->family == AF_INET6 ? 16 : 4;
  q->have = 1;
  q->type = rm->rtm_type;
  if (tb[RTA_OIF])
    q->oif = mnl_attr_get_u32(tb[RTA_OIF]);
  if (tb[RTA_GATEWAY] && mnl_attr_get_payload_len(tb[RTA_GATEWAY]) == alen) {
    memcpy(q->gw, mnl_attr_get_payload(tb[RTA_GATEWAY]), alen);
    q->have_gw = 1;
  }
  if (tb[RTA_PREFSRC] && mnl_attr_get_payload_len(tb[RTA_PREFSRC]) == alen) {
    memcpy(q->src, mnl_attr_get_payload(tb[RTA_PREFSRC]), alen);
    q->have_src = 1;
  }
  return MNL_CB_OK;
}

static int neigh_cb(const struct nlmsghdr *nlh, void *data) {
  neigh_q *q = data;
  const struct ndmsg *nd = mnl_nlmsg_get_payload(nlh);
  const struct nlattr *tb[33] = {0};
  size_t alen = q->family == AF_INET6 ? 16 : 4;
  if (nd->ndm_family != q->family || (unsigned)nd->ndm_ifindex != q->ifindex)
    return MNL_CB_OK;
  mnl_attr_parse(nlh, sizeof *nd, attr_cb, tb);
  if (!tb[NDA_DST] || mnl_attr_get_payload_len(tb[NDA_DST]) != alen ||
      memcmp(mnl_attr_get_payload(tb[NDA_DST]), q->dst, alen) != 0)
    return MNL_CB_OK;
  q->found = 1;
  q->state = nd->ndm_state;
  if (tb[NDA_LLADDR]) {
    q->maclen = mnl_attr_get_payload_len(tb[NDA_LLADDR]);
    if (q->maclen > sizeof q->mac)
      q->maclen = sizeof q->mac;
    memcpy(q->mac, mnl_attr_get_payload(tb[NDA_LLADDR]), q->maclen);
  }
  return MNL_CB_OK;
}

/* One request/response exchange; returns 0 or -1 with err. */
static int nl_talk(struct nlmsghdr *nlh, mnl_cb_t cb, void *data, char *err, size_t errlen) {
  struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
  if (!nl) {
    snprintf(err, errlen, "netlink socket: %s", strerror(errno));
    return -1;
  }
  int rc = -1;
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    snprintf(err, errlen, "netlink bind: %s", strerror(errno));
    goto out;
  }
  unsigned portid = mnl_socket_get_portid(nl);
  /* Never hang on the kernel: a second is far more than a local query takes. */
  struct timeval tv = {1, 0};
  setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int dump = (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
    snprintf(err, errlen, "netlink send: %s", strerror(errno));
    goto out;
  }
  unsigned seq = nlh->nlmsg_seq;
  char buf[16384];
  ssize_t n;
  int ret = MNL_CB_OK;
  while ((n = mnl_socket_recvfrom(nl, buf, sizeof buf)) > 0) {
    ret = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
    if (ret <= MNL_CB_STOP || !dump) /* a single answer has no NLMSG_DONE */
      break;
  }
  if (n < 0 || ret == MNL_CB_ERROR) {
    snprintf(err, errlen, "netlink: %s", strerror(errno));
    goto out;
  }
  rc = 0;
out:
  mnl_socket_close(nl);
  return rc;
}

static void mac_str(const unsigned char *m, size_t n, char *buf, size_t len) {
  size_t off = 0;
  buf[0] = 0;
  for (size_t i = 0; i < n && off + 3 < len; i++)
    off += (size_t)snprintf(buf + off, len - off, "%s%02x", i ? ":" : "", m[i]);
}

static int neigh_lookup(neigh_q *q, char *err, size_t errlen) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETNEIGH;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = (unsigned)time(NULL) ^ 0x5a5a;
  struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof *nd);
  nd->ndm_family = (unsigned char)q->family;
  q->found = 0;
  q->maclen = 0;
  q->state = 0;
  return nl_talk(nlh, neigh_cb, q, err, errlen);
}

static const char *rtn_name(unsigned char t) {
  switch (t) {
  case RTN_UNICAST: return "unicast";
  case RTN_LOCAL: return "local";
  case RTN_BROADCAST: return "broadcast";
  case RTN_MULTICAST: return "multicast";
  case RTN_UNREACHABLE: return "unreachable";
  case RTN_BLACKHOLE: return "blackhole";
  case RTN_PROHIBIT: return "prohibit";
  default: return "other";
  }
}

static neigh_q g_neigh; /* the next hop asked about before connect, asked again after */

void jn_netpath_before(jn_result *r, const struct sockaddr *dst) {
  uint64_t t0 = jc_now_us();
  char err[200];
  int fam = dst->sa_family;
  size_t alen = fam == AF_INET6 ? 16 : 4;
  const void *daddr = fam == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)dst)->sin6_addr
                                      : (const void *)&((const struct sockaddr_in *)dst)->sin_addr;
  r->route_ok = 0;
  r->neigh_checked = 0;
  jc_addr_ip(dst, r->nexthop, sizeof r->nexthop);
  r->loopback = jc_addr_is_loopback(dst);

  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETROUTE;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = (unsigned)time(NULL);
  struct rtmsg *rm = mnl_nlmsg_put_extra_header(nlh, sizeof *rm);
  rm->rtm_family = (unsigned char)fam;
  rm->rtm_dst_len = (unsigned char)(alen * 8);
  mnl_attr_put(nlh, RTA_DST, alen, daddr);
  route_q q = {.family = fam};
  if (nl_talk(nlh, route_cb, &q, err, sizeof err) != 0 || !q.have) {
    snprintf(r->route_error, sizeof r->route_error, "route look-up failed (%s): shown without route data",
             q.have ? err : (err[0] ? err : "no answer"));
    goto out;
  }
  r->route_ok = 1;
  jn_strlcpy(r->route_type, rtn_name(q.type), sizeof r->route_type);
  if (!if_indextoname(q.oif, r->oif))
    snprintf(r->oif, sizeof r->oif, "if%u", q.oif);
  if (q.have_gw)
    inet_ntop(fam, q.gw, r->gateway, sizeof r->gateway);
  if (q.have_src)
    inet_ntop(fam, q.src, r->prefsrc, sizeof r->prefsrc);
  if (q.type == RTN_LOCAL)
    r->loopback = 1;
  /* The interface's own MAC (SIOCGIFHWADDR works for any interface name). */
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s >= 0) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    jn_strlcpy(ifr.ifr_name, r->oif, sizeof ifr.ifr_name);
    if (ioctl(s, SIOCGIFHWADDR, &ifr) == 0 && ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER)
      mac_str((unsigned char *)ifr.ifr_hwaddr.sa_data, 6, r->if_mac, sizeof r->if_mac);
    close(s);
  }
  if (r->loopback || q.type != RTN_UNICAST)
    goto out;
  /* The next hop: the gateway, or the destination itself when it is on-link. */
  memset(&g_neigh, 0, sizeof g_neigh);
  g_neigh.family = fam;
  g_neigh.ifindex = q.oif;
  memcpy(g_neigh.dst, q.have_gw ? q.gw : daddr, alen);
  inet_ntop(fam, g_neigh.dst, r->nexthop, sizeof r->nexthop);
  if (neigh_lookup(&g_neigh, err, sizeof err) != 0) {
    snprintf(r->route_error, sizeof r->route_error, "neighbour look-up failed (%s)", err);
    goto out;
  }
  r->neigh_checked = 1;
  r->neigh_hit = g_neigh.found && jn_netpath_nud_usable(g_neigh.state);
  jn_netpath_nud_name(g_neigh.found ? g_neigh.state : 0, r->neigh_state_before, sizeof r->neigh_state_before);
  if (!g_neigh.found)
    snprintf(r->neigh_state_before, sizeof r->neigh_state_before, "absent");
out:
  r->route_us = jc_now_us() - t0;
}

void jn_netpath_after(jn_result *r, int fd) {
  struct sockaddr_storage l, p;
  socklen_t ll = sizeof l, pl = sizeof p;
  int ttl = 0;
  socklen_t tl = sizeof ttl;
  if (getsockname(fd, (struct sockaddr *)&l, &ll) != 0 || getpeername(fd, (struct sockaddr *)&p, &pl) != 0)
    return;
  if (l.ss_family == AF_INET6)
    getsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, &tl);
  else
    getsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, &tl);
  r->ip_ttl = ttl;
  r->src_private = jc_addr_is_private((struct sockaddr *)&l);
  jn_netpath_nat_note((struct sockaddr *)&l, (struct sockaddr *)&p, r->nat_note, sizeof r->nat_note);
  if (!r->prefsrc[0])
    jc_addr_ip((struct sockaddr *)&l, r->prefsrc, sizeof r->prefsrc);
  if (!r->neigh_checked)
    return;
  char err[200];
  if (neigh_lookup(&g_neigh, err, sizeof err) != 0) {
    snprintf(r->neigh_state, sizeof r->neigh_state, "unknown");
    return;
  }
  jn_netpath_nud_name(g_neigh.found ? g_neigh.state : 0, r->neigh_state, sizeof r->neigh_state);
  mac_str(g_neigh.mac, g_neigh.maclen, r->neigh_mac, sizeof r->neigh_mac);
}
