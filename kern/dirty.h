/*
 * dirty.h -- dirty-page tracking backends (kern-private).
 *
 * A backend tells which pages of the merged regions a child changed since
 * it started.  It runs in the child: begin() right after the snapshot
 * holder is forked, collect() when the child publishes (join or barrier).
 * False positives only cost merge time (the merge compares bytes); a
 * missed page is a lost write, so every backend must over-report rather
 * than under-report.  Backends are chosen by probe, in the order of
 * dirty_backends[], or forced with DET_DIRTY=<name>.
 */
#ifndef KERN_DIRTY_H
#define KERN_DIRTY_H

#ifndef KERN_INTERNAL
#error "dirty.h is private to kern/"
#endif

#include <stdint.h>

#include "rt.h"

struct dirty_ops {
	const char *name;
	/* 1 when only user-space writes are seen: the kernel cannot write
	 * into a tracked page (mprotect), so the runtime touches pages
	 * from user space before writing them with a system call. */
	int user_writes_only;
	/* 1 when a page shared with any other process reads as clean
	 * (pagemap_excl): before collecting, the space must end its own
	 * holders and children, whose mappings share its pages. */
	int needs_sole_owner;
	/* 1 when begin honours rt->lazy: it registers those ranges for
	 * missing-page faults too, on the userfaultfd rt->lazy_uffd
	 * (space_worker_lazy). */
	int lazy_ok;
	/* 0 when the mechanism works on this machine (a real trial). */
	int (*probe)(void);
	/* Start tracking m in the calling process; *state is private to
	 * the backend.  Returns 0 or -errno. */
	int (*begin)(const struct regions *m, void **state);
	/* Set bit (r->first + page) of bitmap for every page written since
	 * begin.  Returns the number of pages set, or -errno. */
	long (*collect)(const struct regions *m, void *state, uint8_t *bitmap);
	/* Stop tracking and release state. */
	void (*end)(const struct regions *m, void *state);
};

extern const struct dirty_ops dirty_scan_ops;
extern const struct dirty_ops dirty_excl_ops;
extern const struct dirty_ops dirty_mprotect_ops;
extern const struct dirty_ops dirty_hash_ops;

/* pagemap_scan's userfaultfd (async write-protect, not user-mode only:
 * missing-page faults in system calls are served too), made from devfd
 * (an open /dev/userfaultfd) when >= 0, else by the system call.
 * fd or -errno. */
int dirty_scan_uffd(int devfd);

/* All backends, best first; NULL-terminated. */
extern const struct dirty_ops *const dirty_backends[];

/* The backend DET_DIRTY names (force != NULL) or the best that probes
 * well.  NULL after one error line when force names none usable. */
const struct dirty_ops *dirty_select(const char *force);

/* A probe's trial: track the npages pages at p with ops, write page
 * write_page, collect into bitmap.  Pages reported, or -errno. */
long dirty_trial(const struct dirty_ops *ops, char *p, size_t npages,
		 size_t write_page, uint8_t *bitmap);

static inline void
dirty_bit_set(uint8_t *bm, size_t i)
{
	bm[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static inline int
dirty_bit_get(const uint8_t *bm, size_t i)
{
	return bm[i >> 3] >> (i & 7) & 1;
}

#endif /* KERN_DIRTY_H */
