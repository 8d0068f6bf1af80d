/* Strict chunked-body syntax (chunk_check.h). */
#include "lb/core/chunk_check.h"
#include "lb/core/charclass.h"

enum {
  S_SIZE0,     /* the first hex digit of a chunk size */
  S_SIZE,      /* more digits, ";" or CR */
  S_EXT,       /* extension bytes up to CR */
  S_SIZE_LF,   /* LF ending the size line */
  S_DATA,      /* data bytes */
  S_DATA_CR,   /* CR after the data */
  S_DATA_LF,   /* LF after the data */
  S_TLINE,     /* the start of a trailer line, or CR of the final CRLF */
  S_TNAME,     /* a trailer name up to ":" */
  S_TVALUE,    /* a trailer value up to CR */
  S_TLINE_LF,  /* LF ending a trailer line */
  S_END_LF,    /* LF ending the message */
  S_DONE
};

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c |= 0x20;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

#define BAD(status, reason)                                                                       \
  do {                                                                                            \
    *used = i;                                                                                    \
    *why = (reason);                                                                              \
    return (status);                                                                              \
  } while (0)

int lb_chunk_scan_feed(lb_chunk_scan *s, const lb_chunk_limits *lim, const char *p, size_t n,
                       size_t *used, const char **why) {
  const unsigned char *u = (const unsigned char *)p;
  size_t i = 0;
  while (i < n) {
    unsigned char c = u[i];
    switch (s->state) {
    case S_SIZE0:
    case S_SIZE: {
      int h = hexval(c);
      if (h >= 0) {
        if (++s->digits > 16)
          BAD(400, "chunk size too large");
        s->size = s->size << 4 | (uint64_t)h;
        s->state = S_SIZE;
      } else if (s->state == S_SIZE0) {
        BAD(400, "chunk size must start with a hex digit");
      } else if (c == ';') {
        s->state = S_EXT;
        s->ext_bytes++;
      } else if (c == '\r') {
        s->state = S_SIZE_LF;
      } else {
        BAD(400, "invalid character after a chunk size (only ';' or CRLF may follow)");
      }
      if (++s->line > lim->max_line)
        BAD(400, "chunk extensions too long");
      break;
    }
    case S_EXT:
      if (c == '\r') {
        s->state = S_SIZE_LF;
        break;
      }
      if (!(lb_charclass[c] & LB_CC_FIELD))
        BAD(400, "invalid character in a chunk extension (control, bare LF)");
      s->ext_bytes++;
      if (++s->line > lim->max_line)
        BAD(400, "chunk extensions too long");
      break;
    case S_SIZE_LF:
      if (c != '\n')
        BAD(400, "bare CR in a chunk-size line");
      s->line = 0;
      s->digits = 0;
      s->state = s->size ? S_DATA : S_TLINE;
      if (!s->size) {
        s->trailers = 1;
        s->trailers_at = i + 1;
      }
      break;
    case S_DATA: {
      size_t take = n - i < s->size ? n - i : (size_t)s->size;
      s->size -= take;
      i += take;
      if (!s->size)
        s->state = S_DATA_CR;
      continue;
    }
    case S_DATA_CR:
      if (c != '\r')
        BAD(400, "chunk data longer than its size");
      s->state = S_DATA_LF;
      break;
    case S_DATA_LF:
      if (c != '\n')
        BAD(400, "chunk data must end with CRLF");
      s->state = S_SIZE0;
      break;
    case S_TLINE:
      if (c == '\r') {
        s->state = S_END_LF;
      } else if (c == ' ' || c == '\t') {
        BAD(400, "obs-fold or leading whitespace in a trailer");
      } else if (lb_charclass[c] & LB_CC_TCHAR) {
        if (++s->trailer_fields > lim->max_trailer_fields)
          BAD(431, "too many trailer fields (max-headers)");
        s->state = S_TNAME;
      } else {
        BAD(400, "invalid character in a trailer name");
      }
      break;
    case S_TNAME:
      if (c == ':')
        s->state = S_TVALUE;
      else if (!(lb_charclass[c] & LB_CC_TCHAR))
        BAD(400, "invalid character in a trailer name");
      break;
    case S_TVALUE:
      if (c == '\r')
        s->state = S_TLINE_LF;
      else if (!(lb_charclass[c] & LB_CC_FIELD))
        BAD(400, "invalid character in a trailer value (control, bare LF)");
      break;
    case S_TLINE_LF:
      if (c != '\n')
        BAD(400, "bare CR in a trailer");
      s->state = S_TLINE;
      break;
    case S_END_LF:
      if (c != '\n')
        BAD(400, "bare CR at the end of the trailers");
      s->state = S_DONE;
      *used = i + 1;
      return 1;
    default:
      BAD(400, "bytes after the end of a chunked body");
    }
    if (s->state >= S_TLINE && ++s->trailer_bytes > lim->max_trailer_bytes)
      BAD(431, "trailers larger than max-header-size");
    i++;
  }
  *used = n;
  return 0;
}
