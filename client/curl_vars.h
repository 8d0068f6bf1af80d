/* curl's -w variables (the names and meanings of `curl -w '%{name}'` and '%{json}') computed from
 * a jn_result: one table for journey's --json top level and for -w. Pure. */
#ifndef JOURNEY_CLIENT_CURL_VARS_H
#define JOURNEY_CLIENT_CURL_VARS_H

#include <stdio.h>

#include "client/result.h"

enum { JN_VAL_NULL, JN_VAL_INT, JN_VAL_SECS, JN_VAL_STR };

typedef struct jn_val {
  int type;
  long long i;  /* JN_VAL_INT */
  uint64_t us;  /* JN_VAL_SECS: microseconds, shown as seconds with 6 decimals */
  char s[2200]; /* JN_VAL_STR */
} jn_val;

/* The variables in the order --json writes them. */
extern const char *const jn_curl_var_names[];
extern const size_t jn_curl_var_n;

/* The value of one variable; -1 when curl has no such name (or journey does not know it). */
int jn_curl_var(const jn_result *r, const char *name, jn_val *v);
/* -w FORMAT: %{name}, %{json} (every variable as one object), %header{Name}, %% and the escapes
 * \n \r \t \\; an unknown %{name} is written as it stands, as curl does (and warned about). */
void jn_writeout(FILE *f, const char *fmt, const jn_result *r);

#endif
