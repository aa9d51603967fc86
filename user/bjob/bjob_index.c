/*
 * bjob_index.c -- which join last changed each path of the tree.
 *
 * An open-addressing hash table of path -> (join number, job id).
 * Invariant: join numbers only grow for a path; entries are never
 * removed (a deletion is a change too).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bjob.h"

struct bjob_slot {
	char *path;	/* NULL: empty */
	int join;
	int job;
};

struct bjob_index {
	struct bjob_slot *slot;
	size_t cap;	/* power of two */
	size_t used;
};

static uint64_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

struct bjob_index *
bjob_index_create(void)
{
	struct bjob_index *ix = calloc(1, sizeof(*ix));

	if (!ix)
		return NULL;
	ix->cap = 1024;
	ix->slot = calloc(ix->cap, sizeof(*ix->slot));
	if (!ix->slot) {
		free(ix);
		return NULL;
	}
	return ix;
}

void
bjob_index_destroy(struct bjob_index *ix)
{
	size_t i;

	if (!ix)
		return;
	for (i = 0; i < ix->cap; i++)
		free(ix->slot[i].path);
	free(ix->slot);
	free(ix);
}

/* The slot holding path, or the empty slot where it would go. */
static struct bjob_slot *
find(const struct bjob_index *ix, const char *path)
{
	size_t i = (size_t)hash(path) & (ix->cap - 1);

	while (ix->slot[i].path && strcmp(ix->slot[i].path, path))
		i = (i + 1) & (ix->cap - 1);
	return &ix->slot[i];
}

/* Double the table; 0 or -1 (ENOMEM, table unchanged). */
static int
grow(struct bjob_index *ix)
{
	struct bjob_index big = { .cap = ix->cap * 2 };
	size_t i;

	big.slot = calloc(big.cap, sizeof(*big.slot));
	if (!big.slot)
		return -1;
	for (i = 0; i < ix->cap; i++)
		if (ix->slot[i].path)
			*find(&big, ix->slot[i].path) = ix->slot[i];
	free(ix->slot);
	ix->slot = big.slot;
	ix->cap = big.cap;
	return 0;
}

int
bjob_index_get(const struct bjob_index *ix, const char *path, int *job)
{
	const struct bjob_slot *s = find(ix, path);

	*job = s->path ? s->job : 0;
	return s->path ? s->join : 0;
}

int
bjob_index_put(struct bjob_index *ix, const char *path, int join, int job)
{
	struct bjob_slot *s;

	if ((ix->used + 1) * 2 > ix->cap && grow(ix) < 0)
		return -1;
	s = find(ix, path);
	if (!s->path) {
		s->path = strdup(path);
		if (!s->path)
			return -1;
		ix->used++;
	}
	s->join = join;
	s->job = job;
	return 0;
}
