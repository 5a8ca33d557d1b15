/* The monotonic clock, sleeping and the exponential backoff step (clock.h). */
#include <errno.h>
#include <limits.h>
#include <time.h>

#include "clock.h"

uint64_t clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

long clock_left_ms(uint64_t deadline_ms)
{
	uint64_t now = clock_now_ms();

	if (now >= deadline_ms)
		return 0;
	return deadline_ms - now > LONG_MAX ? LONG_MAX : (long)(deadline_ms - now);
}

void clock_sleep_ms(unsigned long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

unsigned clock_backoff_ms(unsigned first_ms, unsigned cap_ms, unsigned attempt)
{
	unsigned ms = first_ms;

	while (attempt-- && ms < cap_ms)
		ms = ms > UINT_MAX / 2 ? UINT_MAX : ms * 2;
	return ms < cap_ms ? ms : cap_ms;
}
