/* The client's own DNS cache (c-ares 1.18 has none): a small text file under
 * $XDG_CACHE_HOME/journey/dns (or ~/.cache/journey/dns), one answer per line:
 *   <host> <4|6> <address> <expires-unix-seconds> <original-ttl>
 * Lookups and updates are pure functions of the file's text and an injected clock; only
 * jn_dns_cache_load/store touch the disk (store writes a temporary file and renames it). */
#ifndef JOURNEY_CLIENT_DNS_CACHE_H
#define JOURNEY_CLIENT_DNS_CACHE_H

#include <stddef.h>
#include <time.h>

#include "client/result.h"

#define JN_DNS_CACHE_MAX (64 * 1024) /* the file never grows beyond this */

/* Path of the cache file from $XDG_CACHE_HOME or $HOME (either may be NULL). -1 if neither. */
int jn_dns_cache_path(char *buf, size_t len, const char *xdg_cache_home, const char *home);
/* The same from the process environment. */
int jn_dns_cache_path_env(char *buf, size_t len);
/* Unexpired answers for host, families allowed by fam (4, 6 or 0 for both), remaining TTL in
 * ttl. Returns the number found (0: miss). */
size_t jn_dns_cache_lookup(const char *text, const char *host, int fam, time_t now,
                           jn_dns_answer *out, size_t max);
/* New file text: old entries minus expired ones and minus host's, plus answers with ttl > 0.
 * Returns the length written to out (entries that would not fit are dropped, oldest first kept). */
size_t jn_dns_cache_update(const char *text, const char *host, const jn_dns_answer *a, size_t n,
                           time_t now, char *out, size_t cap);
/* Reads the file into buf (NUL-terminated; "" when absent). Returns 0, or -1 with err. */
int jn_dns_cache_load(const char *path, char *buf, size_t cap, char *err, size_t errlen);
/* Creates the directory if needed and replaces the file atomically. Returns 0, or -1 with err. */
int jn_dns_cache_store(const char *path, const char *text, size_t len, char *err, size_t errlen);

#endif
