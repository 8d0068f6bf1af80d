/* journey-backend access log: one line per request on stdout, logfmt or JSON (common/log.h).
 *
 * Lines are collected in a per-worker buffer and written with one write(2) per event-loop
 * iteration (be_accesslog_flush from a uv_prepare handle), not one per request: under load
 * that is the difference between one system call per request and one per batch. A line is
 * never split across writes, so lines from several workers never interleave. */
#ifndef JOURNEY_BACKEND_ACCESSLOG_H
#define JOURNEY_BACKEND_ACCESSLOG_H

#include "common/log.h"

struct be_ws_counts;
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BE_ACCESSLOG_BUF (64 * 1024)

typedef struct be_access_entry {
  const char *backend;
  const char *client;
  const char *method;
  const char *target;
  size_t target_len;
  int status;
  size_t bytes;    /* response bytes, headers included */
  uint64_t dur_us; /* from the first byte of the request to the response being queued */
  const char *request_id; /* NULL: none received */
  size_t request_id_len;
  int keep_alive;
  const struct be_ws_counts *ws; /* a WebSocket's line, at its end (NULL for a request) */
} be_access_entry;

typedef struct be_accesslog {
  int enabled;
  int fd;
  jc_log_format fmt;
  time_t stamp_sec; /* the second stamp_prefix was formatted for */
  char stamp_prefix[64]; /* "2026-11-24T05:14:42." */
  size_t len;
  char buf[BE_ACCESSLOG_BUF];
} be_accesslog;

void be_accesslog_init(be_accesslog *a, int enabled, int fd, jc_log_format fmt);
/* Formats the entry (pure: the time stamp is given) into l. */
void be_accesslog_format(jc_logline *l, jc_log_format fmt, const char *stamp,
                         const be_access_entry *e);
/* Formats the entry with the current wall time and queues it; flushes first if full. */
void be_accesslog_add(be_accesslog *a, const be_access_entry *e);
/* Writes what is queued (one write; retried on partial writes). */
void be_accesslog_flush(be_accesslog *a);

#endif
