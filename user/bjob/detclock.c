/*
 * detclock.c -- preloaded into build jobs and the program detrun --build
 * runs (LD_PRELOAD): every clock reads SOURCE_DATE_EPOCH, plus 1 us
 * per reading in this process (so a loop waiting for time to pass still
 * ends, the same way every run), and uname() names a fixed machine; so
 * `date`, `uname -a` and the temporary names gnulib derives from the
 * monotonic clock are the same on every run.  Sleeps are real.  make
 * keeps the real clock: it compares mtimes with the time to warn of
 * clock skew.  Static binaries, and glibc's internal clock readings,
 * are not covered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static long readings;

/* Is this process make (real clock)? */
static int
real_clock(void)
{
	const char *me = program_invocation_short_name;

	return !strcmp(me, "make") || !strcmp(me, "gmake");
}

/* The build's epoch (0 when unset) plus 1 us per reading. */
static void
now(struct timespec *ts)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	long us = readings++;

	ts->tv_sec = (s ? (time_t)strtoll(s, NULL, 10) : 0) + us / 1000000;
	ts->tv_nsec = us % 1000000 * 1000;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	if (!real_clock()) {
		now(ts);
		return 0;
	}
	return (int)syscall(SYS_clock_gettime, id, ts);
}

int
gettimeofday(struct timeval *tv, void *tz)
{
	struct timeval *volatile out = tv;	/* glibc says nonnull */
	struct timespec ts;

	if (real_clock())
		return (int)syscall(SYS_gettimeofday, tv, tz);
	if (out) {
		now(&ts);
		out->tv_sec = ts.tv_sec;
		out->tv_usec = ts.tv_nsec / 1000;
	}
	return 0;
}

time_t
time(time_t *t)
{
	struct timespec ts;

	if (real_clock())
		return (time_t)syscall(SYS_time, t);
	now(&ts);
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
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
