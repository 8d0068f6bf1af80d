/* Phase timer: records named phases of one request or connection as monotonic timestamps and
 * reports each phase's duration and its cumulative offset from the start, in microseconds.
 * Fixed-size storage (JC_PHASE_MAX): no allocation, safe to embed in per-connection structs.
 * Names are not copied: pass string literals or strings that outlive the timer. */
#ifndef JOURNEY_COMMON_PHASE_H
#define JOURNEY_COMMON_PHASE_H

#include <stddef.h>
#include <stdint.h>

#define JC_PHASE_MAX 16

typedef struct jc_phase_timer {
  uint64_t start_us;
  size_t count;
  struct {
    const char *name;
    uint64_t at_us; /* absolute monotonic time at which the phase ended */
  } phases[JC_PHASE_MAX];
} jc_phase_timer;

/* Starts (or restarts) the timer at now_us. */
void jc_phase_start(jc_phase_timer *t, uint64_t now_us);
/* Marks the end of phase `name` at now_us. Returns 0, or -1 when the timer is full. */
int jc_phase_mark(jc_phase_timer *t, const char *name, uint64_t now_us);
/* Index of the phase named `name`, or -1. */
int jc_phase_find(const jc_phase_timer *t, const char *name);
/* Duration of phase i: from the end of phase i-1 (or the start) to its end. 0 if out of range. */
uint64_t jc_phase_duration_us(const jc_phase_timer *t, size_t i);
/* Cumulative offset of phase i's end from the start. 0 if out of range. */
uint64_t jc_phase_offset_us(const jc_phase_timer *t, size_t i);
/* Time from the start to the last mark. */
uint64_t jc_phase_total_us(const jc_phase_timer *t);
/* Writes "name=1.234ms(+1.234) name2=..." into buf (always NUL-terminated). Returns the length
 * that would have been written, like snprintf. */
int jc_phase_format(const jc_phase_timer *t, char *buf, size_t len);

#endif
