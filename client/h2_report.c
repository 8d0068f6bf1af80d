#include "client/h2_report.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

enum { F_DATA, F_HEADERS, F_PRIORITY, F_RST_STREAM, F_SETTINGS, F_PUSH_PROMISE, F_PING, F_GOAWAY,
       F_WINDOW_UPDATE, F_CONTINUATION };

const char *jn_h2_frame_name(unsigned type) {
  static const char *const n[] = {"DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE",
                                  "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"};
  return type < sizeof n / sizeof n[0] ? n[type] : "UNKNOWN";
}

const char *jn_h2_setting_name(unsigned id) {
  static const char *const n[] = {"?", "header_table_size", "enable_push", "max_concurrent_streams",
                                  "initial_window_size", "max_frame_size", "max_header_list_size"};
  if (id < sizeof n / sizeof n[0] && id)
    return n[id];
  return id == 8 ? "enable_connect_protocol" : id == 9 ? "no_rfc7540_priorities" : "unknown";
}

const char *jn_h2_error_name(uint32_t code) {
  static const char *const n[] = {"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
                                  "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
                                  "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
                                  "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"};
  return code < sizeof n / sizeof n[0] ? n[code] : "UNKNOWN_ERROR";
}

static int mergeable(const jn_h2_frame *a, const jn_h2_frame *b) {
  return a->type == F_DATA && b->type == F_DATA && a->sent == b->sent && a->stream == b->stream && !a->flags &&
         !b->flags;
}

void jn_h2_frame_record(jn_h2_info *info, const jn_h2_frame *fr) {
  info->frames_total++;
  if (info->frame_n && mergeable(&info->frames[info->frame_n - 1], fr)) {
    jn_h2_frame *last = &info->frames[info->frame_n - 1];
    last->length += fr->length;
    last->count++;
    last->t_last_us = fr->t_us;
    return;
  }
  jn_h2_frame *slot = &info->frames[info->frame_n < JN_H2_FRAMES_MAX ? info->frame_n++ : JN_H2_FRAMES_MAX - 1];
  *slot = *fr;
  slot->count = 1;
  slot->t_last_us = fr->t_us;
}

typedef struct flag {
  uint8_t bit;
  const char *name;
} flag;

static size_t flag_names(char *buf, size_t len, const jn_h2_frame *fr) {
  static const flag ack[] = {{0x1, "ACK"}, {0, NULL}};
  static const flag data[] = {{0x1, "END_STREAM"}, {0x8, "PADDED"}, {0, NULL}};
  static const flag headers[] = {{0x1, "END_STREAM"}, {0x4, "END_HEADERS"}, {0x8, "PADDED"}, {0x20, "PRIORITY"},
                                 {0, NULL}};
  static const flag cont[] = {{0x4, "END_HEADERS"}, {0, NULL}};
  const flag *fl = fr->type == F_SETTINGS || fr->type == F_PING ? ack
                   : fr->type == F_DATA                         ? data
                   : fr->type == F_HEADERS                      ? headers
                   : fr->type == F_CONTINUATION                 ? cont
                                                                : ack + 1;
  size_t off = 0;
  buf[0] = 0;
  for (; fl->name; fl++)
    if (fr->flags & fl->bit) {
      int w = snprintf(buf + off, len - off, "%s%s", off ? " " : "", fl->name);
      if (w < 0 || (size_t)w >= len - off)
        break;
      off += (size_t)w;
    }
  return off;
}

size_t jn_h2_frame_line(char *buf, size_t len, const jn_h2_frame *fr) {
  char flags[64], extra[64] = "", many[32] = "";
  flag_names(flags, sizeof flags, fr);
  if (fr->type == F_WINDOW_UPDATE)
    snprintf(extra, sizeof extra, "  increment %u", fr->detail);
  else if (fr->type == F_RST_STREAM || fr->type == F_GOAWAY)
    snprintf(extra, sizeof extra, "  %s", jn_h2_error_name(fr->detail));
  if (fr->count > 1)
    snprintf(many, sizeof many, " x%u", fr->count);
  int w = snprintf(buf, len, "+%llu.%03llu ms  %s %-13s stream %d%s  %u B%s%s%s",
                   (unsigned long long)(fr->t_us / 1000), (unsigned long long)(fr->t_us % 1000), fr->sent ? ">" : "<",
                   jn_h2_frame_name(fr->type), fr->stream, many, fr->length, flags[0] ? "  " : "", flags, extra);
  return w < 0 ? 0 : (size_t)w;
}

void jn_h2_report_human(FILE *f, const jn_h2_info *h, const char *indent) {
  if (!h->used)
    return;
  fprintf(f, "%sh2       %s, stream %d, HPACK headers: request %u B (%u B as text), response %u B (%u B "
             "as text)\n",
          indent, h->prior_knowledge ? "cleartext, prior knowledge" : "ALPN h2", h->stream_id, h->req_hpack, h->req_raw, h->resp_hpack, h->resp_raw);
  if (h->streams_on_conn > 1)
    fprintf(f, "%s         up to %d streams at once on this connection\n", indent, h->streams_on_conn);
  fprintf(f, "%sSETTINGS", indent);
  if (!h->settings_n)
    fprintf(f, " (none from the server: defaults)");
  for (int i = 0; i < h->settings_n; i++)
    fprintf(f, " %s=%u", jn_h2_setting_name(h->settings[i].id), h->settings[i].value);
  fprintf(f, "\n");
  char line[160];
  for (int i = 0; i < h->frame_n; i++) {
    if (i == JN_H2_FRAMES_MAX - 1 && h->frames_total > 0) {
      uint32_t shown = 0;
      for (int j = 0; j < h->frame_n; j++)
        shown += h->frames[j].count;
      if (h->frames_total > shown)
        fprintf(f, "%s         ... %u more frames ...\n", indent, h->frames_total - shown);
    }
    jn_h2_frame_line(line, sizeof line, &h->frames[i]);
    fprintf(f, "%s%s %s\n", indent, i ? "        " : "frames  ", line);
  }
}

void jn_h2_report_json(FILE *f, const jn_h2_info *h) {
  if (!h->used) {
    fputs(",\"h2\":null", f);
    return;
  }
  fprintf(f, ",\"h2\":{\"negotiated\":\"%s\",\"stream_id\":%d,\"streams_on_connection\":%d",
          h->prior_knowledge ? "prior-knowledge" : "alpn", h->stream_id, h->streams_on_conn ? h->streams_on_conn : 1);
  fprintf(f, ",\"hpack\":{\"request_bytes\":%u,\"request_raw_bytes\":%u,\"response_bytes\":%u,"
             "\"response_raw_bytes\":%u}",
          h->req_hpack, h->req_raw, h->resp_hpack, h->resp_raw);
  fputs(",\"settings\":{", f);
  for (int i = 0; i < h->settings_n; i++)
    fprintf(f, "%s\"%s\":%u", i ? "," : "", jn_h2_setting_name(h->settings[i].id), h->settings[i].value);
  fprintf(f, "},\"frames_total\":%u,\"frames\":[", h->frames_total);
  for (int i = 0; i < h->frame_n; i++) {
    const jn_h2_frame *fr = &h->frames[i];
    char flags[64];
    flag_names(flags, sizeof flags, fr);
    fprintf(f, "%s{\"t_us\":%llu,\"direction\":\"%s\",\"type\":\"%s\",\"stream\":%d,\"length\":%u,\"count\":%u",
            i ? "," : "", (unsigned long long)fr->t_us, fr->sent ? "sent" : "received", jn_h2_frame_name(fr->type),
            fr->stream, fr->length, fr->count);
    fputs(",\"flags\":[", f);
    for (char *p = flags, *sp; *p; p = sp + (*sp != 0)) {
      sp = p + strcspn(p, " ");
      fprintf(f, "%s\"%.*s\"", p == flags ? "" : ",", (int)(sp - p), p);
    }
    fputc(']', f);
    if (fr->type == F_WINDOW_UPDATE)
      fprintf(f, ",\"increment\":%u", fr->detail);
    else if (fr->type == F_RST_STREAM || fr->type == F_GOAWAY)
      fprintf(f, ",\"error\":\"%s\"", jn_h2_error_name(fr->detail));
    fputc('}', f);
  }
  fputs("]}", f);
}

static int connection_specific(const char *n, size_t len) {
  static const char *const bad[] = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
                                    "host"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (strlen(bad[i]) == len && strncasecmp(n, bad[i], len) == 0)
      return 1;
  return 0;
}

int jn_h2_request_fields(const char *req, size_t req_len, const char *scheme, const char *url_authority,
                         jn_h2_field *out, size_t cap, char *store, size_t store_len) {
  const char *end = req + req_len, *p = req;
  const char *eol = memchr(p, '\n', (size_t)(end - p));
  const char *sp1 = eol ? memchr(p, ' ', (size_t)(eol - p)) : NULL;
  const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
  if (!sp2 || cap < 4)
    return -1;
  size_t n = 0, used = 0;
  out[n++] = (jn_h2_field){":method", p, 7, (size_t)(sp1 - p)};
  out[n++] = (jn_h2_field){":scheme", scheme, 7, strlen(scheme)};
  size_t authority = n++;
  out[authority] = (jn_h2_field){":authority", "", 10, 0};
  out[n++] = (jn_h2_field){":path", sp1 + 1, 5, (size_t)(sp2 - sp1 - 1)};
  int have_host = 0;
  for (p = eol + 1; p < end; p = eol + 1) {
    eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      eol = end;
    size_t ln = (size_t)(eol - p);
    if (ln && p[ln - 1] == '\r')
      ln--;
    if (!ln)
      break; /* the blank line: the head ends */
    const char *colon = memchr(p, ':', ln);
    if (!colon || colon == p)
      return -1;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1, *ve = p + ln;
    while (v < ve && (*v == ' ' || *v == '\t'))
      v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
      ve--;
    if (nl == 4 && strncasecmp(p, "host", 4) == 0 && !have_host) {
      have_host = 1;
      out[authority].value = v;
      out[authority].value_len = (size_t)(ve - v);
      continue;
    }
    if (connection_specific(p, nl))
      continue;
    if (n == cap || used + nl > store_len)
      return -1;
    for (size_t i = 0; i < nl; i++)
      store[used + i] = (char)tolower((unsigned char)p[i]);
    /* TE is allowed with the value "trailers" only (RFC 9113 8.2.2) */
    if (nl == 2 && strncmp(store + used, "te", 2) == 0 && !((size_t)(ve - v) == 8 && strncasecmp(v, "trailers", 8) == 0))
      continue;
    out[n++] = (jn_h2_field){store + used, v, nl, (size_t)(ve - v)};
    used += nl;
  }
  if (!have_host && !url_authority)
    return -1;
  if (!have_host) {
    out[authority].value = url_authority;
    out[authority].value_len = strlen(url_authority);
  }
  return (int)n;
}
