/* Formatting a journey (pure: writes to the FILE* it is given, reads only the result):
 * numbered phase lines, an httpstat-like waterfall, curl's time_* names; --json as one object
 * (schema: docs/client-json.md); -n/-c statistics. */
#ifndef JOURNEY_CLIENT_REPORT_H
#define JOURNEY_CLIENT_REPORT_H

#include <stdio.h>

#include "client/result.h"
#include "client/stats.h"

/* The phases in order; a result's failed_phase names one of them. */
enum { JN_PH_URL, JN_PH_DNS, JN_PH_ROUTE, JN_PH_TCP, JN_PH_PROXY, JN_PH_TLS, JN_PH_HTTP, JN_PH_LB, JN_PH_N };
/* Index of the first phase not completed: JN_PH_N when the request succeeded. */
int jn_report_reached(const jn_result *r);

typedef struct jn_report_opts {
  int color;   /* ANSI colour */
  int verbose; /* request and response headers */
  int show_response; /* -i without -o: the response headers */
  int width;   /* waterfall width in columns */
} jn_report_opts;

/* Colour only on a terminal and only when NO_COLOR is unset or empty (no-color.org). */
int jn_report_use_color(int is_tty, const char *no_color_env);
/* The human report of one request (phases up to the one that failed, then the error). */
void jn_report_human(FILE *f, const jn_result *r, const jn_report_opts *o);
/* The statistics of an -n run. */
void jn_report_stats_human(FILE *f, jn_stats *s, size_t requested, int concurrency,
                           const jn_report_opts *o);
/* Waterfall rows into buf: one row per phase, bars scaled to the total. Returns length. */
size_t jn_report_waterfall(char *buf, size_t len, const jn_result *r, int width);
/* report_json.c: the --json object (one line, newline-terminated). s may be NULL (no -n). */
void jn_report_json(FILE *f, const jn_result *r, jn_stats *s, size_t requested, int concurrency,
                    const jn_tries *tries);
/* The hops (-L) and retries: one line each with its phases, and where the time went. Nothing
 * when there was a single try. tries may be NULL. */
void jn_report_tries_human(FILE *f, const jn_tries *tries, const jn_report_opts *o);
/* report_html.c: --html FILE, one self-contained page. */
void jn_report_html(FILE *f, const jn_result *r);
/* JSON string escaping of src into f, with the quotes. */
void jn_json_str(FILE *f, const char *src);

#endif
