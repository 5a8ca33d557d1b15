/* The monotonic clock, sleeping and the exponential backoff step every retry loop uses. */
#ifndef CLIQUE_CLOCK_H
#define CLIQUE_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t clock_now_ms(void);
/* Milliseconds until deadline_ms (a clock_now_ms() value), 0 when it has passed. */
long clock_left_ms(uint64_t deadline_ms);
/* Sleeps ms milliseconds, resuming after a signal. */
void clock_sleep_ms(unsigned long ms);
/* The delay before retry number attempt (0 first): first_ms doubled attempt times, at most cap_ms. */
unsigned clock_backoff_ms(unsigned first_ms, unsigned cap_ms, unsigned attempt);

#endif
