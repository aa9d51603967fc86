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
/*
 * space_barrier, carrying *fd (an open fd of the caller) across: in the
 * process that continues after the barrier, *fd is that fd's number
 * there (the parent takes a copy from the old process with
 * pidfd_getfd, so it must be allowed to: the root's children only).
 * Same return as space_barrier.
 */
int space_barrier_fd(int *fd);
unsigned space_depth(void);
unsigned space_self(void);
const struct space_stats *space_stats(void);

/*
 * Remote workers (kern/space_remote.c; used by user/lib/remote.c).
 * space_worker_prepare: before the image arrives, everything that may
 * allocate (the sandbox's filter, the backend's probe).  0 or -errno.
 * space_image_map: make [lo, hi) (rounded to pages) read-write memory,
 * mapping what is missing; -EBUSY when it holds runtime or library
 * memory.  space_image_write: copy image bytes to dst, except the bytes
 * that are never merged (they stay this process's own).
 * space_worker_begin: become child space `path` ("0.3") of a remote
 * parent: dirty tracking of the merged regions as they are now, the
 * sandbox (a refused call is reported on report_sock), and publish(code)
 * called instead of publishing to a parent (from space_exit; it must
 * not return).  0 or -errno.
 * space_worker_dirty: call cb(lo, hi) for every run of pages written
 * since space_worker_begin, then for the memory the space mapped itself
 * (space_new_range, whole).  Pages reported, or -errno (cb's error).
 * space_worker_fresh: those self-mapped ranges (at most max into out);
 * their number.
 * space_worker_lazy: after the ranges are mapped, before
 * space_worker_begin: keep in r (*n of them, compacted in place; r must
 * live on) the ranges whose pages may arrive while fn runs (page
 * aligned, no runtime bytes, anonymous), emptied; space_worker_begin
 * registers them for missing-page faults.  Returns a userfaultfd (from
 * devfd, an open /dev/userfaultfd, when >= 0) on which another process
 * serves those faults with UFFDIO_COPY in UFFDIO_COPY_MODE_WP (a page
 * placed so is not "written"), or -errno (-ENOTSUP: the dirty tracking
 * cannot).  A nested det_fork first faults every lazy page in.
 */
int space_worker_prepare(void);
int space_image_map(uintptr_t lo, uintptr_t hi);
void space_image_write(uintptr_t dst, const void *src, size_t len);
/* 1 when [lo, hi) holds no byte that is never merged: image bytes may
 * be written there directly (received in place). */
int space_image_direct(uintptr_t lo, uintptr_t hi);
int space_worker_begin(const char *path, int report_sock,
		       void (*publish)(int code));
long space_worker_dirty(int (*cb)(uintptr_t lo, uintptr_t hi, void *ctx),
			void *ctx);
size_t space_worker_fresh(uintptr_t (*out)[2], size_t max);
int space_worker_lazy(int devfd, uintptr_t (*r)[2], size_t *n);
/*
 * det_barrier in a remote worker (space_worker_begin'd): hook() runs
 * instead of publishing to a parent and returns det_barrier's result
 * (a kern code, as space_barrier's).  In it, space_worker_pause stops
 * dirty tracking once the written pages are sent (so the new snapshot
 * can be received straight into memory, even into pages the mprotect
 * backend protects); after the snapshot is in place, space_worker_resume
 * starts this space over from it: the merged regions collected again,
 * dirty tracking from zero, no fresh ranges, no lazy ranges (0 or
 * -errno: the space cannot go on).
 * space_worker_clear_output empties a capture file the worker writes
 * as fd (its content was shipped), 0 or -errno.
 */
/* The calling child's fn stack [*lo, *hi) (its parent keeps it reserved;
 * a remote worker runs fn at the same addresses); 0, 0 in the root. */
void space_stack_range(uintptr_t *lo, uintptr_t *hi);
void space_worker_set_barrier(int (*hook)(void));
void space_worker_pause(void);
int space_worker_resume(void);
int space_worker_clear_output(int fd);
/* The lazy handler failed: end the worker (its real pid) with SIGKILL
 * (kill(2) is virtualised in det programs). */
void space_worker_abort(int worker);
/* The lazy handler's own seccomp filter: reads of uffd and its
 * UFFDIO_COPY/ZEROPAGE/WAKE ioctls, preads of cache (the node's page
 * cache file, -1: none), receiving and sending on the nsocks sockets,
 * poll, SIGKILL to this worker (as space_worker_abort sends it), exit;
 * anything else raises SIGSYS, which the handler handles (a handler
 * installed before).  prepare: in the worker, before the image replaces
 * its heap (it allocates), with the fd numbers the handler will use;
 * enter: in the handler, before it serves anything.  0 or -errno. */
int space_worker_pager_prepare(int uffd, int cache, const int *socks,
			       int nsocks);
int space_worker_pager_enter(void);
/* The real monotonic clock in ns, for measurements only (the program's
 * clocks are logical under detrun and in every child space). */
uint64_t space_now_ns(void);

/* The merged regions of the calling child as at its fork (at most max
 * into out); their number (0 in the root). */
size_t space_regions(uintptr_t (*out)[2], size_t max);

/* This space's place in the tree ("0.3.1"). */
const char *space_path(void);

/* Write the root's timeline (DET_TRACE) as Chrome trace-event JSON to
 * path; 0 or -errno. */
int space_trace_write(const char *path);

/*
 * The deterministic environment (a sandboxed child, or the root under
 * detrun): the virtual file that stands for path (/dev/urandom,
 * /dev/random: the space's seeded stream; the CPU lists in /sys), as a
 * new fd opened with flags' O_CLOEXEC; -ENOENT when path is a real file
 * or the caller runs in no such environment; another -errno on failure.
 */
int space_virtual_open(const char *path, int flags);

/* The CPU count the program sees (DET_CPUS) in that environment; 0
 * outside it. */
unsigned space_cpus(void);

#endif /* KERN_KERN_H */
