/*
 * alloc.c -- det_malloc and friends.
 *
 * For now these are glibc's allocator under det names: memory allocated
 * before a fork merges correctly, but a child that allocates writes
 * glibc's heap metadata and may conflict with its parent or siblings.
 * Per-space arenas at deterministic addresses are not built yet (see
 * README, "Not built yet").
 */
#include <stdlib.h>

#include "det.h"

/* see det.h */
void *
det_malloc(size_t n)
{
	return malloc(n);
}

/* see det.h */
void *
det_calloc(size_t n, size_t size)
{
	return calloc(n, size);
}

/* see det.h */
void *
det_realloc(void *p, size_t n)
{
	return realloc(p, n);
}

/* see det.h */
void
det_free(void *p)
{
	free(p);
}
