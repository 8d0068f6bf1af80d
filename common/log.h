/* Structured logging: one line per event, logfmt (default) or JSON lines, with a timestamp.
 *
 * A jc_logline is built on the stack field by field, then written with one write(2), so lines
 * from several threads never interleave. Lines longer than JC_LOGLINE_MAX are cut and marked
 * truncated=true, never overflow.
 *
 *   jc_logline l;
 *   jc_log_begin(&l, JC_LOG_INFO, "listening");
 *   jc_logline_str(&l, "addr", "127.0.0.1:8443");
 *   jc_log_emit(&l);                      -- to stderr, if the level is enabled
 *
 * Diagnostics go to stderr (jc_log_emit); access logs to stdout (jc_logline_write(&l, 1)). */
#ifndef JOURNEY_COMMON_LOG_H
#define JOURNEY_COMMON_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define JC_LOGLINE_MAX 4096

typedef enum { JC_LOG_DEBUG = 0, JC_LOG_INFO, JC_LOG_WARN, JC_LOG_ERROR, JC_LOG_OFF } jc_log_level;
typedef enum { JC_LOG_LOGFMT = 0, JC_LOG_JSON } jc_log_format;

typedef struct jc_logline {
  jc_log_format fmt;
  jc_log_level level;
  size_t len;
  int fields;
  int truncated;
  size_t field_start; /* where the field being written began */
  char buf[JC_LOGLINE_MAX];
} jc_logline;

/* Process-wide settings (set once at start-up, before threads start). */
void jc_log_setup(jc_log_level min_level, jc_log_format fmt);
jc_log_level jc_log_min_level(void);
jc_log_format jc_log_get_format(void);
static inline int jc_log_enabled(jc_log_level lvl) { return lvl >= jc_log_min_level(); }
/* "debug"/"info"/"warn"/"error" -> level; returns -1 if unknown. */
int jc_log_level_parse(const char *s);
const char *jc_log_level_name(jc_log_level lvl);
/* "logfmt"/"json" -> format; returns -1 if unknown. */
int jc_log_format_parse(const char *s);

/* Starts a line in the given format without time/level (for tests and custom records). */
void jc_logline_init(jc_logline *l, jc_log_format fmt);
/* Starts a line in the process format with time=..., level=..., msg=<event>. */
void jc_log_begin(jc_logline *l, jc_log_level lvl, const char *event);

void jc_logline_str(jc_logline *l, const char *key, const char *value); /* NULL value: "" */
void jc_logline_strn(jc_logline *l, const char *key, const char *value, size_t n);
void jc_logline_int(jc_logline *l, const char *key, long long v);
void jc_logline_uint(jc_logline *l, const char *key, unsigned long long v);
void jc_logline_bool(jc_logline *l, const char *key, int v);
/* A duration in microseconds written as milliseconds with 3 decimals (a number in JSON). */
void jc_logline_ms(jc_logline *l, const char *key, uint64_t us);
void jc_logline_printf(jc_logline *l, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Closes the line (JSON '}', then '\n') and returns it NUL-terminated; idempotent. */
const char *jc_logline_finish(jc_logline *l);
/* Finishes and writes the line with one write(2) to fd. */
void jc_logline_write(jc_logline *l, int fd);
/* Finishes and writes to stderr if the line's level is enabled. */
void jc_log_emit(jc_logline *l);

/* For formatters that write a known line straight into their own buffer (the access log):
 * the value as jc_logline_strn writes it in logfmt (bare, or quoted and escaped), into out,
 * which has room for 6 * n + 2 bytes; a number; a duration in µs as milliseconds (room 32).
 * Each returns the bytes written. */
size_t jc_logfmt_value(char *out, const char *v, size_t n);
size_t jc_log_uint(char *out, unsigned long long v);
size_t jc_log_ms(char *out, uint64_t us);

/* One-call diagnostics: msg is printf-formatted, e.g. jc_log(JC_LOG_WARN, "bind %s failed", a). */
void jc_log(jc_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
