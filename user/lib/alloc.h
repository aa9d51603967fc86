/*
 * alloc.h -- the det allocator's hooks for det.c (see alloc.c).
 */
#ifndef USER_ALLOC_H
#define USER_ALLOC_H

#include <stdint.h>

/* Parent, before forking child: carve its address range.  0 or -ENOMEM. */
int alloc_fork_prepare(unsigned child);
/* Parent, when the fork failed: take the range back. */
void alloc_fork_abort(unsigned child);
/* Parent, after child ended: adopt its heap as far as a merge applied it
 * (this join, or the last det_sync of the child), or take the range back
 * (nothing of the child's heap was ever applied). */
void alloc_join_done(unsigned child);
/* Install the allocator's hooks into kern: a new space's start, and
 * conflict descriptions for heap memory. */
void alloc_register(void);
/* The allocator's private state [*lo, *hi) (never merged; a remote
 * worker gets a copy of its proxy's). */
void alloc_state_range(uintptr_t *lo, uintptr_t *hi);

#endif /* USER_ALLOC_H */
