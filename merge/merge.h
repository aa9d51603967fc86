/*
 * merge.h -- pure byte-merge primitives for det's page merge.
 *
 * A child's page is merged back into its parent by comparing three copies
 * of the same bytes: snap (the page as it was when the child was forked),
 * child (the child's copy at join) and parent (the parent's copy at join).
 * Nothing here makes a system call or allocates; every function is safe to
 * call concurrently on disjoint buffers.
 */
#ifndef DET_MERGE_H
#define DET_MERGE_H

#include <stddef.h>
#include <stdint.h>

struct merge_run { size_t off; size_t len; };	/* bytes [off, off+len) */

/* 1 if a[0..len) == b[0..len), else 0.  Vectorised. */
int merge_equal(const void *a, const void *b, size_t len);

/*
 * Three-way conflict scan; changes nothing.  Byte i conflicts when
 * child[i] != snap[i] && parent[i] != snap[i] (even if child[i] ==
 * parent[i]).  Stores up to maxruns maximal contiguous runs of conflicting
 * bytes, ascending, in runs[] (runs may be NULL when maxruns == 0); returns
 * the TOTAL number of runs (may exceed maxruns).
 */
size_t merge_conflicts(const uint8_t *snap, const uint8_t *child,
		       const uint8_t *parent, size_t len,
		       struct merge_run *runs, size_t maxruns);

/*
 * Apply the child's changes: parent[i] = child[i] where child[i] != snap[i]
 * and parent[i] == snap[i].  Conflicting bytes keep the parent's value.
 * Returns the number of bytes written (bytes where the child's value was
 * taken).
 */
size_t merge_apply(uint8_t *parent, const uint8_t *snap,
		   const uint8_t *child, size_t len);

/* The same two operations as plain byte-by-byte loops: the test oracle. */
size_t merge_conflicts_ref(const uint8_t *snap, const uint8_t *child,
			   const uint8_t *parent, size_t len,
			   struct merge_run *runs, size_t maxruns);
size_t merge_apply_ref(uint8_t *parent, const uint8_t *snap,
		       const uint8_t *child, size_t len);

/*
 * Force the portable (non-AVX2) path on (force_scalar != 0) or off, for
 * tests and benchmarks; returns the name of the implementation now in use:
 * "avx2" or "scalar".  Not thread-safe with respect to concurrent merges.
 */
const char *merge_impl(int force_scalar);

#endif /* DET_MERGE_H */
