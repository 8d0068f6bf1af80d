#include "client/http.h"

#include <string.h>
#include <strings.h>

#define H(p) ((jn_http *)(p)->data)

static void hdr_append(jn_result *r, const char *p, size_t n) {
  size_t have = strlen(r->resp_headers);
  if (have + n + 1 > sizeof r->resp_headers)
    n = sizeof r->resp_headers - have - 1;
  memcpy(r->resp_headers + have, p, n);
  r->resp_headers[have + n] = 0;
}

/* The end of the last status or header byte seen, as an offset in the response. */
static void mark(jn_http *h, const char *at, size_t n) { h->head_end = h->fed + (uint64_t)(at + n - h->base); }

static int on_status(llhttp_t *p, const char *at, size_t n) {
  jn_result *r = H(p)->r;
  mark(H(p), at, n);
  size_t have = strlen(r->reason);
  if (have + n >= sizeof r->reason)
    n = sizeof r->reason - have - 1;
  memcpy(r->reason + have, at, n);
  r->reason[have + n] = 0;
  return 0;
}

/* Appends a piece of a header name or value (llhttp may split them) to a bounded buffer. */
static void piece(char *buf, size_t cap, size_t *len, const char *at, size_t n) {
  if (*len + n < cap) {
    memcpy(buf + *len, at, n);
    *len += n;
  }
}

static int on_field(llhttp_t *p, const char *at, size_t n) {
  jn_http *h = H(p);
  mark(h, at, n);
  piece(h->name, sizeof h->name, &h->name_len, at, n);
  return 0;
}

static int on_value(llhttp_t *p, const char *at, size_t n) {
  jn_http *h = H(p);
  mark(h, at, n);
  piece(h->value, sizeof h->value, &h->value_len, at, n);
  return 0;
}

static int on_value_complete(llhttp_t *p) {
  jn_http *h = H(p);
  jn_result *r = h->r;
  h->name[h->name_len] = 0;
  h->value[h->value_len] = 0;
  hdr_append(r, h->name, h->name_len);
  hdr_append(r, ": ", 2);
  hdr_append(r, h->value, h->value_len);
  hdr_append(r, "\n", 1);
  r->header_n++;
  if (!jn_lb_header(&r->lb, h->name, h->name_len, h->value, h->value_len)) {
    if (strcasecmp(h->name, "Content-Encoding") == 0)
      jn_strlcpy(r->content_encoding, h->value, sizeof r->content_encoding);
    else if (strcasecmp(h->name, "Content-Type") == 0)
      jn_strlcpy(r->content_type, h->value, sizeof r->content_type);
    else if (strcasecmp(h->name, "Location") == 0)
      jn_strlcpy(r->location, h->value, sizeof r->location);
  }
  h->name_len = h->value_len = 0;
  return 0;
}

/* The head as received (status line, header lines, CRLFs) into f: -D and -i. */
static int write_head(jn_http *h, FILE *f) {
  jn_result *r = h->r;
  int bad = h->h2 ? fprintf(f, "HTTP/2 %d \r\n", r->status) < 0 /* as curl writes it */
                  : fprintf(f, "HTTP/%d.%d %d %s\r\n", h->p.http_major, h->p.http_minor, r->status, r->reason) < 0;
  for (const char *l = r->resp_headers; *l;) {
    size_t n = strcspn(l, "\n");
    bad |= fprintf(f, "%.*s\r\n", (int)n, l) < 0;
    l += n + (l[n] == '\n');
  }
  bad |= fputs("\r\n", f) < 0 || fflush(f) != 0;
  if (bad) {
    snprintf(r->error, sizeof r->error, "cannot write the response headers (-D / -i)");
    r->exit_code = JN_EXIT_WRITE;
  }
  return bad ? -1 : 0;
}

static int on_headers_complete(llhttp_t *p) {
  jn_http *h = H(p);
  jn_result *r = h->r;
  r->status = p->status_code;
  r->header_wire_bytes = h->head_end + 4; /* CRLF ending the last line, CRLF ending the block */
  int st = r->status;
  h->discard = h->follow && r->location[0] && (st == 301 || st == 302 || st == 303 || st == 307 || st == 308);
  /* with -L every hop's head is written, a redirect's too (curl -i -L, -D); only its body is not */
  if ((h->dump && write_head(h, h->dump) != 0) || (h->include && h->out && write_head(h, h->out) != 0))
    return -1;
  if (h->h2)
    snprintf(r->http_version, sizeof r->http_version, "2");
  else
    snprintf(r->http_version, sizeof r->http_version, "%d.%d", p->http_major, p->http_minor);
  int nobody = h->head || r->status == 204 || r->status == 304 || r->status / 100 == 1;
  snprintf(r->transfer_mode, sizeof r->transfer_mode, "%s",
           nobody                            ? "none"
           : (p->flags & F_CHUNKED)          ? "chunked"
           : (p->flags & F_CONTENT_LENGTH)   ? "content-length"
           : h->h2                           ? "data-frames" /* ended by END_STREAM */
                                             : "close-delimited");
  const char *ce = r->content_encoding;
  if (!ce[0] || nobody || strcasecmp(ce, "identity") == 0) {
    if (ce[0])
      jn_strlcpy(r->encoding_note, "no body to decode", sizeof r->encoding_note);
  } else if (strcasecmp(ce, "gzip") == 0 || strcasecmp(ce, "x-gzip") == 0 || strcasecmp(ce, "deflate") == 0) {
    memset(&h->z, 0, sizeof h->z);
    /* 16+: gzip wrapper; 32+: zlib or gzip auto-detected (deflate is zlib-wrapped per RFC 9110). */
    if (inflateInit2(&h->z, (strcasecmp(ce, "deflate") == 0 ? 32 : 16) + MAX_WBITS) == Z_OK)
      h->z_on = 1;
  } else if (strcasecmp(ce, "br") == 0) {
    if ((h->br = BrotliDecoderCreateInstance(NULL, NULL, NULL)))
      h->z_on = 1;
  } else {
    snprintf(r->encoding_note, sizeof r->encoding_note, "%s body NOT decoded (journey decodes gzip, deflate and br)",
             ce);
  }
  return nobody ? 1 : 0; /* 1: no body (HEAD and friends) */
}

static int sink(jn_http *h, const char *p, size_t n) {
  jn_result *r = h->r;
  r->body_decoded += n;
  if (h->out && !h->discard && fwrite(p, 1, n, h->out) != n) {
    snprintf(r->error, sizeof r->error, "cannot write the body to the -o file");
    r->exit_code = JN_EXIT_WRITE;
    return -1;
  }
  return 0;
}

static void corrupt(jn_http *h, const char *why) {
  h->z_err = 1;
  snprintf(h->r->encoding_note, sizeof h->r->encoding_note, "%s body is corrupt: %s", h->r->content_encoding, why);
}

static int brotli_body(jn_http *h, const char *at, size_t n) {
  const uint8_t *in = (const uint8_t *)at;
  size_t avail_in = n;
  for (;;) {
    uint8_t buf[16384], *out = buf;
    size_t avail_out = sizeof buf;
    BrotliDecoderResult br = BrotliDecoderDecompressStream(h->br, &avail_in, &in, &avail_out, &out, NULL);
    if (br == BROTLI_DECODER_RESULT_ERROR) {
      corrupt(h, BrotliDecoderErrorString(BrotliDecoderGetErrorCode(h->br)));
      return 0;
    }
    if (sink(h, (char *)buf, sizeof buf - avail_out) != 0)
      return -1;
    if (br != BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT)
      return 0;
  }
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  jn_http *h = H(p);
  h->r->body_bytes += n;
  if (!h->z_on)
    return sink(h, at, n);
  if (h->z_err)
    return 0;
  if (h->br)
    return brotli_body(h, at, n);
  unsigned char buf[16384];
  h->z.next_in = (unsigned char *)at;
  h->z.avail_in = (unsigned)n;
  while (h->z.avail_in) {
    h->z.next_out = buf;
    h->z.avail_out = sizeof buf;
    int zr = inflate(&h->z, Z_NO_FLUSH);
    if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
      corrupt(h, h->z.msg ? h->z.msg : "inflate failed");
      return 0;
    }
    if (sink(h, (char *)buf, sizeof buf - h->z.avail_out) != 0)
      return -1;
    if (zr == Z_STREAM_END || (zr == Z_BUF_ERROR && h->z.avail_out))
      break;
  }
  return 0;
}

static int on_complete(llhttp_t *p) {
  jn_http *h = H(p);
  h->complete = 1;
  h->r->keepalive_ok = h->h2 || llhttp_should_keep_alive(p);
  if (h->z_on && !h->z_err)
    snprintf(h->r->encoding_note, sizeof h->r->encoding_note, "%s decoded: %llu bytes", h->r->content_encoding,
             (unsigned long long)h->r->body_decoded);
  return HPE_PAUSED; /* stop here: anything after it belongs to no request of ours */
}

void jn_http_begin(jn_http *h, jn_result *r, int head, FILE *out) {
  jn_http_end(h);
  memset(h, 0, sizeof *h);
  llhttp_settings_init(&h->s);
  h->s.on_status = on_status;
  h->s.on_header_field = on_field;
  h->s.on_header_value = on_value;
  h->s.on_header_value_complete = on_value_complete;
  h->s.on_headers_complete = on_headers_complete;
  h->s.on_body = on_body;
  h->s.on_message_complete = on_complete;
  llhttp_init(&h->p, HTTP_RESPONSE, &h->s);
  h->p.data = h;
  h->r = r;
  h->head = head;
  h->out = out;
}

static int parse_error(jn_http *h, llhttp_errno_t e) {
  jn_result *r = h->r;
  h->failed = 1;
  if (!r->exit_code) {
    snprintf(r->error, sizeof r->error, "invalid HTTP response: %s (%s)", llhttp_errno_name(e),
             llhttp_get_error_reason(&h->p) ? llhttp_get_error_reason(&h->p) : "");
    r->exit_code = JN_EXIT_WEIRD_REPLY;
  }
  return -1;
}

int jn_http_feed(jn_http *h, const char *data, size_t n) {
  if (h->complete)
    return 1;
  if (h->failed)
    return -1;
  h->base = data;
  llhttp_errno_t e = llhttp_execute(&h->p, data, n);
  h->fed += n;
  if (e == HPE_PAUSED || h->complete) {
    h->r->header_bytes = strlen(h->r->resp_headers);
    return 1;
  }
  if (e != HPE_OK)
    return parse_error(h, e);
  return 0;
}

int jn_http_eof(jn_http *h) {
  if (h->complete)
    return 1;
  jn_result *r = h->r;
  llhttp_errno_t e = llhttp_finish(&h->p);
  if (h->complete) {
    r->header_bytes = strlen(r->resp_headers);
    return 1;
  }
  h->failed = 1;
  if (!r->exit_code) {
    if (!r->status && !r->resp_headers[0]) {
      snprintf(r->error, sizeof r->error, "the server closed the connection without sending a response");
      r->exit_code = JN_EXIT_EMPTY_REPLY;
    } else {
      snprintf(r->error, sizeof r->error, "the connection closed in the middle of the response (%s)",
               e != HPE_OK ? llhttp_errno_name(e) : "body cut short");
      r->exit_code = JN_EXIT_RECV;
    }
  }
  return -1;
}

void jn_http_end(jn_http *h) {
  if (h->br)
    BrotliDecoderDestroyInstance(h->br);
  else if (h->z_on)
    inflateEnd(&h->z);
  h->br = NULL;
  h->z_on = 0;
}
