/*
 * detclock.c -- preloaded into build jobs (LD_PRELOAD): the wall clock
 * reads SOURCE_DATE_EPOCH and uname() names a fixed machine, so `date`
 * and `uname -a` print the same on every run.  Monotonic clocks stay
 * real (timeouts, sleeps).  Static binaries are not covered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* The build's epoch, from the environment (0 when unset). */
static time_t
epoch(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");

	return s ? (time_t)strtoll(s, NULL, 10) : 0;
}

static int
wall(clockid_t id)
{
	return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE ||
	       id == CLOCK_TAI || id == CLOCK_REALTIME_ALARM;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	if (wall(id)) {
		ts->tv_sec = epoch();
		ts->tv_nsec = 0;
		return 0;
	}
	return (int)syscall(SYS_clock_gettime, id, ts);
}

int
gettimeofday(struct timeval *tv, void *tz)
{
	struct timeval *volatile out = tv;	/* glibc says nonnull */

	(void)tz;
	if (out) {
		out->tv_sec = epoch();
		out->tv_usec = 0;
	}
	return 0;
}

time_t
time(time_t *t)
{
	time_t now = epoch();

	if (t)
		*t = now;
	return now;
}

int
uname(struct utsname *u)
{
	if (syscall(SYS_uname, u) < 0)
		return -1;
	snprintf(u->release, sizeof(u->release), "%s", "6.0.0-det");
	snprintf(u->version, sizeof(u->version), "%s", "#1 SMP det");
	snprintf(u->nodename, sizeof(u->nodename), "%s", "det");
	memset(u->domainname, 0, sizeof(u->domainname));
	return 0;
}
