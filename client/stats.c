#include "client/stats.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

const char *const jn_stat_names[JN_ST_N] = {"dns", "route", "tcp", "tls", "server", "transfer", "total"};

int jn_stats_init(jn_stats *s, size_t cap) {
  memset(s, 0, sizeof *s);
  s->cap = cap;
  for (int i = 0; i < JN_ST_N; i++)
    if (!(s->v[i] = calloc(cap ? cap : 1, sizeof(uint64_t)))) {
      jn_stats_free(s);
      return -1;
    }
  return 0;
}

void jn_stats_free(jn_stats *s) {
  for (int i = 0; i < JN_ST_N; i++) {
    free(s->v[i]);
    s->v[i] = NULL;
  }
}

void jn_stats_add(jn_stats *s, const jn_result *r) {
  if (r->status) {
    size_t i;
    for (i = 0; i < s->code_n && s->code[i].code != r->status; i++)
      ;
    if (i == s->code_n && s->code_n < JN_CODES_MAX) {
      s->code[s->code_n].code = r->status;
      s->code[s->code_n++].count = 0;
    }
    if (i < s->code_n)
      s->code[i].count++;
  }
  if (r->exit_code != JN_EXIT_OK && r->exit_code != JN_EXIT_HTTP) {
    s->failed++;
    return;
  }
  if (s->n < s->cap) {
    uint64_t vals[JN_ST_N] = {r->dns_us, r->route_us, r->tcp_us, r->tls_us, r->server_us, r->transfer_us, r->t_total};
    for (int p = 0; p < JN_ST_N; p++)
      s->v[p][s->n] = vals[p];
    s->n++;
  }
  s->reused += r->tcp_reused != 0;
  s->resumed += r->tls_resumed != 0;
  if (r->h2.used) {
    s->h2_streams++;
    s->h2_conns += r->num_connects != 0;
    if (r->h2.streams_on_conn > s->h2_at_once)
      s->h2_at_once = r->h2.streams_on_conn;
  }
  const char *b = r->lb.served_by[0] ? r->lb.served_by : "";
  size_t i;
  for (i = 0; i < s->backend_n && strcmp(s->backend[i].name, b) != 0; i++)
    ;
  if (i == s->backend_n) {
    if (s->backend_n == JN_BACKENDS_MAX) {
      s->other_backends++;
      return;
    }
    jn_strlcpy(s->backend[i].name, b, sizeof s->backend[i].name);
    s->backend[i].count = 0;
    s->backend_n++;
  }
  s->backend[i].count++;
}

uint64_t jn_percentile(const uint64_t *sorted, size_t n, double p) {
  if (!n)
    return 0;
  double rank = ceil(p / 100.0 * (double)n);
  size_t k = rank < 1 ? 0 : (size_t)rank - 1;
  return sorted[k >= n ? n - 1 : k];
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

void jn_stats_summary(jn_stats *s, int phase, jn_summary *out) {
  memset(out, 0, sizeof *out);
  out->n = s->n;
  if (!s->n)
    return;
  uint64_t *v = s->v[phase];
  qsort(v, s->n, sizeof *v, cmp_u64);
  uint64_t sum = 0;
  for (size_t i = 0; i < s->n; i++)
    sum += v[i];
  out->min = v[0];
  out->max = v[s->n - 1];
  out->mean = sum / s->n;
  out->p50 = jn_percentile(v, s->n, 50);
  out->p90 = jn_percentile(v, s->n, 90);
  out->p99 = jn_percentile(v, s->n, 99);
}
