/*
 * rt.c -- runtime-private memory and address-range sets.
 *
 * All runtime state is allocated here, outside malloc, and recorded in
 * rt->own so that space_map.c never offers it for merging.
 */
#define KERN_INTERNAL
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"

struct rt *rt DET_PRIVATE;

/*
 * Map len bytes of zeroed runtime memory (MAP_SHARED when shared, so a
 * parent and its child both see it).  Returns NULL when out of memory.
 */
void *
rt_mmap(size_t len, int shared)
{
	void *p;

	len = PAGE_UP(len);
	if (rt && rt->own.n >= RT_MAX_OWN) {
		errno = ENOMEM;
		return NULL;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS |
		 MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (rt)
		rt_range_add(&rt->own, (uintptr_t)p, (uintptr_t)p + len);
	return p;
}

/* Undo rt_mmap. */
void
rt_munmap(void *p, size_t len)
{
	if (!p)
		return;
	len = PAGE_UP(len);
	munmap(p, len);
	if (rt)
		rt_range_del(&rt->own, (uintptr_t)p, (uintptr_t)p + len);
}

/*
 * Add [lo, hi) to s, keeping it sorted and coalesced.  When a new range
 * does not fit, s is left as it was and s->overflow is set.
 */
void
rt_range_add(struct rt_rangeset *s, uintptr_t lo, uintptr_t hi)
{
	size_t i, j;

	assert(lo <= hi);
	if (lo == hi)
		return;
	for (i = 0; i < s->n && s->r[i].hi < lo; i++)
		;
	if (i < s->n && s->r[i].lo <= hi) {
		/* Overlaps or touches r[i]: widen it and swallow later ones. */
		if (lo < s->r[i].lo)
			s->r[i].lo = lo;
		if (hi > s->r[i].hi)
			s->r[i].hi = hi;
		for (j = i + 1; j < s->n && s->r[j].lo <= s->r[i].hi; j++)
			if (s->r[j].hi > s->r[i].hi)
				s->r[i].hi = s->r[j].hi;
		memmove(&s->r[i + 1], &s->r[j], (s->n - j) * sizeof(s->r[0]));
		s->n -= j - i - 1;
		return;
	}
	if (s->n == RT_MAX_RANGES) {
		s->overflow = 1;
		return;
	}
	memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof(s->r[0]));
	s->r[i].lo = lo;
	s->r[i].hi = hi;
	s->n++;
}

/* Remove [lo, hi) from s.  Splitting a range in two needs a free slot:
 * without one the range stays whole and s->overflow is set. */
void
rt_range_del(struct rt_rangeset *s, uintptr_t lo, uintptr_t hi)
{
	size_t i;

	if (lo >= hi)
		return;
	for (i = 0; i < s->n; i++) {
		struct rt_range *r = &s->r[i];

		if (r->hi <= lo || r->lo >= hi)
			continue;
		if (lo <= r->lo && hi >= r->hi) {
			memmove(r, r + 1, (s->n - i - 1) * sizeof(*r));
			s->n--;
			i--;
		} else if (lo <= r->lo) {
			r->lo = hi;
		} else if (hi >= r->hi) {
			r->hi = lo;
		} else if (s->n < RT_MAX_RANGES) {
			memmove(r + 1, r, (s->n - i) * sizeof(*r));
			s->n++;
			r->hi = lo;
			r[1].lo = hi;
			i++;
		} else {
			s->overflow = 1;
		}
	}
}

/* Index of the range containing a, or -1. */
int
rt_range_find(const struct rt_rangeset *s, uintptr_t a)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (a < s->r[mid].lo)
			hi = mid;
		else if (a >= s->r[mid].hi)
			lo = mid + 1;
		else
			return (int)mid;
	}
	return -1;
}

/*
 * Monotonic nanoseconds, for statistics and traces only (never
 * program-visible).  The keyed system call passes the sandbox and the
 * root's filter: every clock the program reads is logical, and rdtsc
 * traps, so the runtime cannot use either.
 */
uint64_t
rt_now_ns(void)
{
	struct timespec ts;

	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts, RT_KEY) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* see rt.h */
pid_t
rt_getpid(void)
{
	return (pid_t)syscall(SYS_getpid, RT_KEY);
}

/* see rt.h */
pid_t
rt_getppid(void)
{
	return (pid_t)syscall(SYS_getppid, RT_KEY);
}

/* FNV-1a of the first n bytes of path. */
static uint64_t
path_hash(const char *path, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < n && path[i]; i++)
		h = (h ^ (uint8_t)path[i]) * 1099511628211ull;
	return h;
}

/* The virtual pid of the space at the first n bytes of path. */
static pid_t
path_vpid(const char *path, size_t n)
{
	if (!memchr(path, '.', n))
		return RT_VPID_ROOT;
	return (pid_t)(RT_VPID_ROOT + 1 + path_hash(path, n) %
		       (RT_VPID_MAX - RT_VPID_ROOT - 1));
}

/* see rt.h */
void
rt_set_path(const char *path)
{
	const char *dot = strrchr(path, '.');
	size_t n = strlen(path);

	snprintf(rt->path, sizeof(rt->path), "%s", path);
	rt->path_hash = path_hash(path, n);
	rt->vpid = path_vpid(path, n);
	rt->vppid = dot ? path_vpid(path, (size_t)(dot - path)) : 1;
}
