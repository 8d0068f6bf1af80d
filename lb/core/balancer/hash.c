/* Hash (consistent hashing): the request's key (hash-key: client-ip, header, cookie or path;
 * hash_key.c) decides its server, the same in every journey-lb process with the same servers.
 *
 * Maglev (Eisenbud et al., NSDI 2016): a lookup table of LB_HASH_TABLE_SIZE entries, each naming
 * a server. Every server walks its own permutation of the entries (offset and step from a hash
 * of its name) and, in turns, claims the next free entry on it; a server of weight w takes w
 * turns for every wmax of the heaviest one, so it owns w/sum(w) of the entries to within one.
 * The turns go in the order of the servers' names, so the table depends only on the names and
 * weights: not on slot order (DNS discovery fills slots as answers come), pointers or a seed.
 * A key's server is table[key % size]: one lookup under the pool mutex.
 *
 * The table holds every server present (UP, DOWN, DRAIN, MAINT) and is rebuilt only when the
 * names or weights change (reload, DNS discovery): a change of state keeps it. A key whose
 * server is not UP (or was tried already) follows its own probe sequence through the table
 * (step from the key's hash) to the first eligible entry, so only the keys of that server move,
 * spread over the others in proportion to their weights, and they come back when it is UP.
 * Removing one of n servers rebuilds the table: Maglev then moves its keys and a few more
 * (about 1% of all keys for 10 servers; the unit test bounds it).
 *
 * A request without the key (no such header or cookie) is sent by weighted round-robin, as
 * HAProxy does for a missing hdr()/url_param, rather than piling every such request on the
 * server of an empty key. */
#include "lb/core/balancer/balancer.h"

#include <stdlib.h>
#include <string.h>

#define M LB_HASH_TABLE_SIZE
#define EMPTY 0xffff
/* Server names are hashed with their own seeds (hash_key.c hashes keys with another). */
#define OFFSET_SEED 0x6a6f75726e65796full
#define STEP_SEED 0x6d61676c65762d73ull
#define DIGEST_SEED 0x7461626c652d6964ull

static int hash_init(lb_pool *p) {
  p->hash.entry = malloc(M * sizeof *p->hash.entry);
  return p->hash.entry && lb_rr_init(p) == 0 ? 0 : -1;
}

static void hash_free(lb_pool *p) {
  lb_rr_free(p);
  free(p->hash.entry);
  p->hash.entry = NULL;
}

static inline int present(const lb_server *s) {
  return atomic_load_explicit(&s->state, memory_order_relaxed) != LB_SRV_REMOVED;
}

/* What the table depends on: each present server's slot, name and weight. */
static uint64_t digest(lb_pool *p, int n) {
  uint64_t h = DIGEST_SEED;
  for (int i = 0; i < n; i++) {
    const lb_server *s = &p->servers[i];
    if (!present(s))
      continue;
    uint64_t mix[2] = {(uint64_t)i, (uint64_t)s->weight};
    h = lb_hash_bytes(mix, sizeof mix, h);
    h = lb_hash_bytes(s->name, strlen(s->name), h);
  }
  return h;
}

typedef struct turn {
  const lb_server *s;
  uint32_t pos, step; /* the server's next entry on its permutation, and its stride */
  int64_t credit;     /* weighted turns: one entry for each wmax of credit */
} turn;

static int by_name(const void *a, const void *b) {
  const lb_server *x = ((const turn *)a)->s, *y = ((const turn *)b)->s;
  int c = strcmp(x->name, y->name);
  if (!c)
    c = strcmp(x->addr_text, y->addr_text);
  return c ? c : x->index - y->index;
}

static void table_build(lb_pool *p, int n) {
  lb_hash_table *t = &p->hash;
  turn turns[LB_MAX_SERVERS];
  int nt = 0, wmax = 1;
  for (int i = 0; i < n; i++) {
    const lb_server *s = &p->servers[i];
    if (!present(s))
      continue;
    size_t len = strlen(s->name);
    turns[nt++] = (turn){.s = s,
                         .pos = (uint32_t)(lb_hash_bytes(s->name, len, OFFSET_SEED) % M),
                         .step = (uint32_t)(lb_hash_bytes(s->name, len, STEP_SEED) % (M - 1)) + 1};
    if (s->weight > wmax)
      wmax = s->weight;
  }
  t->nservers = nt;
  if (nt == 0)
    return;
  qsort(turns, (size_t)nt, sizeof *turns, by_name);
  memset(t->entry, 0xff, M * sizeof *t->entry);
  for (uint32_t filled = 0;;) {
    for (int k = 0; k < nt; k++) {
      turn *u = &turns[k];
      u->credit += u->s->weight;
      if (u->credit < wmax)
        continue;
      u->credit -= wmax;
      /* M is prime: the permutation reaches every entry, and one is still free. */
      while (t->entry[u->pos] != EMPTY) {
        u->pos += u->step;
        if (u->pos >= M)
          u->pos -= M;
      }
      t->entry[u->pos] = (uint16_t)u->s->index;
      if (++filled == M)
        return;
    }
  }
}

static void hash_build(lb_pool *p) {
  lb_rr_build(p); /* requests without a key */
  int n = atomic_load_explicit(&p->nservers, memory_order_acquire);
  uint64_t d = digest(p, n);
  if (d == p->hash.digest && p->hash.digest != 0)
    return; /* only states changed: the table stays, lookups skip what is not UP */
  p->hash.digest = d ? d : 1;
  table_build(p, n);
}

static int any_eligible(lb_pool *p, const lb_tried *tried) {
  int n = atomic_load_explicit(&p->nservers, memory_order_acquire);
  for (int i = 0; i < n; i++)
    if (lb_balancer_eligible(&p->servers[i], tried))
      return 1;
  return 0;
}

/* The key's entry, or the first eligible one on the key's probe sequence (pool mutex held). */
static int lookup(lb_pool *p, uint64_t h, const lb_tried *tried) {
  const uint16_t *entry = p->hash.entry;
  uint32_t pos = (uint32_t)(h % M);
  lb_server *s = &p->servers[entry[pos]];
  if (lb_balancer_eligible(s, tried))
    return s->index;
  uint32_t step = (uint32_t)((h >> 32) % (M - 1)) + 1;
  for (uint32_t probe = 1; probe < M; probe++) {
    /* Long walks mean most of the table is not eligible: check that something is at all. */
    if (probe == 32 && !any_eligible(p, tried))
      return -1;
    pos += step;
    if (pos >= M)
      pos -= M;
    s = &p->servers[entry[pos]];
    if (lb_balancer_eligible(s, tried))
      return s->index;
  }
  return -1;
}

static int hash_pick(lb_pool *p, const lb_key *key, const lb_tried *tried) {
  int best;
  pthread_mutex_lock(&p->lock);
  lb_pool_refresh(p);
  if (!key)
    best = lb_rr_next(p, tried);
  else
    best = p->hash.nservers > 0 ? lookup(p, key->hash, tried) : -1;
  pthread_mutex_unlock(&p->lock);
  return best;
}

const lb_balancer_ops lb_balancer_hash = {
    .keyed = 1,
    .init = hash_init,
    .free = hash_free,
    .build = hash_build,
    .pick = hash_pick,
    .begin = NULL, /* counting only */
    .end = NULL,
};
