/* The request key of `algorithm = hash` (pure: no I/O, no allocation).
 *
 * `hash-key = client-ip | header:NAME | cookie:NAME | path` says which part of a request decides
 * its server. lb_hash_key_of reads that part straight from the parsed request (views into the
 * receive buffer, nothing copied) and hashes it with lb_hash_bytes: a fixed function with a fixed
 * seed, so that every journey-lb process with the same configuration maps the same key to the
 * same server (no per-process random seed, no pointer values).
 *
 * Owns nothing: the configuration value is a plain struct inside lb_pool_cfg / lb_config. */
#ifndef JOURNEY_LB_HASH_KEY_H
#define JOURNEY_LB_HASH_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "lb/core/rewrite.h" /* lb_header: the request's header views */

#define LB_HASH_KEY_NAME_MAX 64

typedef enum {
  LB_HASH_KEY_CLIENT_IP = 0, /* the client's address (the TCP peer, not X-Forwarded-For) */
  LB_HASH_KEY_HEADER,        /* the first header NAME (case-insensitive name), trimmed */
  LB_HASH_KEY_COOKIE,        /* the value of cookie NAME (case-sensitive name) */
  LB_HASH_KEY_PATH           /* the request target's path, without the query string */
} lb_hash_key_kind;

typedef struct lb_hash_key_cfg {
  lb_hash_key_kind kind;
  char name[LB_HASH_KEY_NAME_MAX]; /* header or cookie name */
  uint32_t name_len;
  int set;  /* written in the configuration (else the [lb] value, else client-ip) */
  int line; /* where it was written, for errors found after the whole file is read (0: flag) */
} lb_hash_key_cfg;

/* A request's key, hashed: what a keyed algorithm's pick receives (NULL: the request has none). */
typedef struct lb_key {
  uint64_t hash;
} lb_key;

/* The parts of one request a key can come from: views, nothing copied. */
typedef struct lb_key_source {
  const char *client_ip;
  size_t client_ip_len;
  const char *target; /* request target as received: origin-form or absolute-form */
  size_t target_len;
  const lb_header *headers;
  size_t nheaders;
} lb_key_source;

/* Parses "client-ip", "header:NAME", "cookie:NAME" or "path". Returns 0, or -1 with why. */
int lb_hash_key_parse(const char *text, lb_hash_key_cfg *out, char *why, size_t wl);
/* The key as written in the configuration ("header:X-User"). */
const char *lb_hash_key_describe(const lb_hash_key_cfg *k, char *buf, size_t len);
/* Cross-check once the whole configuration is read: a hash-key written for a pool (or in [lb])
 * that no hash pool uses is a mistake. `used`: the pool (or some pool) has algorithm = hash.
 * Returns 0, or -1 with "SRC:LINE: ..." (or "SRC: --hash-key ...") in err. */
int lb_hash_key_check(const lb_hash_key_cfg *k, int used, const char *src, const char *where,
                      char *err, size_t errlen);

/* Fills *out and returns 1 when the request has the key; 0 when it has not (no such header or
 * cookie, or an empty value): the caller then picks without a key. */
int lb_hash_key_of(const lb_hash_key_cfg *k, const lb_key_source *src, lb_key *out);

/* 64-bit hash of bytes: 8 bytes per multiply-xorshift step, then MurmurHash3's finaliser. The
 * same on every host and process (fixed seeds, little-endian reads); not keyed against chosen
 * inputs, which only choose a server, as any client can by its key anyway. */
uint64_t lb_hash_bytes(const void *data, size_t len, uint64_t seed);

#endif
