/*
 * kern.h -- what the user/ layer may call in kern/.
 *
 * The "micro-kernel": spaces are Linux processes.  A child starts as a
 * copy-on-write copy of its parent; a snapshot holder keeps the fork-time
 * memory readable until join; a dirty-page backend (dirty.h) tells which
 * pages the child changed; the join merges them byte by byte (merge.h).
 *
 * Return values: 0, or a negative errno (-EINVAL, -ECHILD, -ENOMEM, ...),
 * or one of the SPACE_E* codes below.  user/lib maps them to enum det_err.
 */
#ifndef KERN_KERN_H
#define KERN_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "det.h"

/*
 * Mutable state of the runtime that a static libdet.a would otherwise
 * put in the program's data: it goes to section det_private, whose bytes
 * are never merged (space_map.c).
 */
#define DET_PRIVATE	__attribute__((section("det_private")))

#define SPACE_ECONFLICT	(-10001)	/* write/write conflict */
#define SPACE_EFAULT	(-10002)	/* child died or broke the rules */
#define SPACE_EPOLICY	(-10003)	/* forbidden syscall */

/*
 * Address range sets (rt.c): kern's bookkeeping, and the allocator's
 * (its heap memory and free address space).
 */
#define RT_MAX_RANGES	1024

/* A half-open address range [lo, hi). */
struct rt_range {
	uintptr_t lo;
	uintptr_t hi;
};

/* A set of ranges, sorted by lo, non-overlapping, non-touching.  A range
 * that did not fit sets `overflow` (the set is then incomplete: users
 * check it and fail rather than merge the wrong memory). */
struct rt_rangeset {
	size_t n;
	int overflow;
	struct rt_range r[RT_MAX_RANGES];
};

/* Add [lo, hi) (lo <= hi), merging neighbours; when it does not fit, s
 * stays as it was and s->overflow is set. */
void rt_range_add(struct rt_rangeset *s, uintptr_t lo, uintptr_t hi);
/* Remove [lo, hi); a split with s full leaves the range whole and sets
 * s->overflow. */
void rt_range_del(struct rt_rangeset *s, uintptr_t lo, uintptr_t hi);
/* Index of the range containing a, or -1 (binary search). */
int rt_range_find(const struct rt_rangeset *s, uintptr_t a);

/* Join-time settings, taken from det_config by the caller. */
struct space_opts {
	int quiet;		/* no conflict report on stderr */
	int apply_partial;	/* apply all but conflicting bytes */
};

/* Counters of this space (for --stats and benchmarks). */
struct space_stats {
	uint64_t forks;
	uint64_t joins;
	uint64_t pages_dirty;
	uint64_t bytes_merged;
	uint64_t conflicts;
	uint64_t merge_ns;
};

/*
 * Set the runtime up; called once from a constructor before main.
 * Records which memory belongs to libc, ld.so and the runtime (never
 * merged) and reads DET_DIRTY.  Returns 0 or -errno.
 */
int space_init(void);

/* Name of the dirty-page backend in use, choosing it on first call;
 * NULL (after one error line) when DET_DIRTY names none usable. */
const char *space_backend(void);

/* Names of the backends whose probe succeeds here, NULL-terminated. */
const char *const *space_backends_available(void);

/*
 * Memory [lo, hi) (page aligned) that the calling space made accessible
 * itself after its fork -- the allocator's new heap chunks -- and that
 * must reach the parent at join: published whole (its present pages),
 * made read-write at the same addresses in the parent, which must have
 * them reserved.  No-op in the root.  0, or -ENOMEM when too many.
 */
int space_new_range(uintptr_t lo, uintptr_t hi);

/*
 * Undo space_new_range for [lo, hi) (page aligned): memory the calling
 * space gave up again (the allocator's retired chunks), which its parent
 * then need not map.  No-op in the root.  0, or -ENOMEM when the set
 * cannot split (the range then stays published: harmless, its pages are
 * gone).
 */
int space_drop_range(uintptr_t lo, uintptr_t hi);

/* Never merge [lo, hi): memory of the caller's own (an allocator's
 * private state).  0, or -ENOMEM when too many ranges. */
int space_exclude(uintptr_t lo, uintptr_t hi);

/*
 * Hooks of the layer above: child_start(k) runs first thing in a new
 * space (child number k; also in a space resumed after a barrier);
 * describe(addr, buf, len) names memory in conflict reports before the
 * symbol tables are tried (0 when it did).
 */
void space_set_hooks(void (*child_start)(unsigned child),
		     int (*describe)(uintptr_t addr, char *buf, size_t len));

/* "file.c:42 (func)" for a code address (a return address); 0 or -1. */
int space_describe_code(uintptr_t pc, char *buf, size_t len);

/* 1 while child number `child` of the caller is forked and not joined. */
int space_child_running(unsigned child);

int space_fork(unsigned child, det_fn fn, void *arg);
int space_join(unsigned child, const struct space_opts *o,
	       struct det_status *st, int sync);
void space_exit(int code) __attribute__((noreturn));
int space_barrier(void);
unsigned space_depth(void);
unsigned space_self(void);
const struct space_stats *space_stats(void);

/* Write the root's timeline (DET_TRACE) as Chrome trace-event JSON to
 * path; 0 or -errno. */
int space_trace_write(const char *path);

#endif /* KERN_KERN_H */
