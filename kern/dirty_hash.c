/*
 * dirty_hash.c -- backend "hash": an xxh3-128 hash of every page at
 * begin(), compared at collect().  Needs nothing from the kernel; costs
 * one read of all merged memory at each end.  A page is missed only on a
 * 128-bit hash collision.
 */
#define KERN_INTERNAL
#include <errno.h>
#include <xxhash.h>

#include "dirty.h"

struct hash_state {
	size_t bytes;
	XXH128_hash_t h[];
};

static int
hash_begin(const struct regions *m, void **state)
{
	struct hash_state *s;
	size_t bytes = sizeof(*s) + m->npages * sizeof(s->h[0]), i;
	uintptr_t p;

	s = rt_mmap(bytes, 0);
	if (!s)
		return -ENOMEM;
	s->bytes = bytes;
	for (i = 0; i < m->n; i++)
		for (p = m->r[i].lo; p < m->r[i].hi; p += PAGE_SIZE)
			s->h[m->r[i].first + ((p - m->r[i].lo) >> PAGE_SHIFT)] =
				XXH3_128bits((const void *)p, PAGE_SIZE);
	*state = s;
	return 0;
}

static long
hash_collect(const struct regions *m, void *state, uint8_t *bitmap)
{
	struct hash_state *s = state;
	long total = 0;
	size_t i, k;
	uintptr_t p;

	for (i = 0; i < m->n; i++) {
		k = m->r[i].first;
		for (p = m->r[i].lo; p < m->r[i].hi; p += PAGE_SIZE, k++) {
			XXH128_hash_t h = XXH3_128bits((const void *)p,
						       PAGE_SIZE);

			if (!XXH128_isEqual(h, s->h[k])) {
				dirty_bit_set(bitmap, k);
				total++;
			}
		}
	}
	return total;
}

static void
hash_end(const struct regions *m, void *state)
{
	struct hash_state *s = state;

	(void)m;
	rt_munmap(s, s->bytes);
}

/* Hashing needs nothing from the kernel: check xxh3 answers sanely. */
static int
hash_probe(void)
{
	static const char a[] = "det", b[] = "dex";

	return XXH128_isEqual(XXH3_128bits(a, 3), XXH3_128bits(b, 3)) ?
	       -ENOTSUP : 0;
}

const struct dirty_ops dirty_hash_ops = {
	.name = "hash",
	.probe = hash_probe,
	.begin = hash_begin,
	.collect = hash_collect,
	.end = hash_end,
};
