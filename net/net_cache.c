/*
 * net_cache.c -- the node's content-addressed page cache (xxh3-128).
 *
 * detd makes one shared memory file; every worker maps it.  It holds an
 * index of nslots entries {seq, hash} (32 bytes, so lookups touch few
 * pages) and then nslots pages.  A page's slot is chosen by its hash
 * (WAYS candidates).  Workers insert and look up concurrently without
 * locks, each slot guarded by a sequence count (a seqlock): a writer
 * takes the slot by moving seq from even to odd (compare-and-swap; a
 * slot being written by someone else is skipped), writes page and hash,
 * and makes seq even again; a reader copies hash and page and trusts
 * them only if seq was even and unchanged throughout.  So a reader
 * never gets a torn page.  The file is sparse until used.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "net.h"

struct net_slot {
	uint64_t seq;		/* odd while being written */
	uint8_t hash[16];
	uint64_t pad;
};

/* see net.h */
void
net_page_hash(const void *page, uint8_t out[16])
{
	XXH128_hash_t h = XXH3_128bits(page, NET_PAGE);

	memcpy(out, &h.low64, 8);
	memcpy(out + 8, &h.high64, 8);
}

/* see net.h */
int
net_cache_create(size_t bytes)
{
	int fd = memfd_create("det-cache", MFD_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)bytes) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* see net.h */
int
net_cache_attach(struct net_cache *c, int fd)
{
	off_t len = lseek(fd, 0, SEEK_END);
	size_t n;
	void *p;

	n = (size_t)len / (sizeof(struct net_slot) + NET_PAGE);
	if (len <= 0 || n < 2)
		return -EINVAL;
	p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	if (p == MAP_FAILED)
		return -errno;
	c->slots = p;
	c->fd = fd;
	c->nslots = n;
	c->len = (size_t)len;
	c->pages = (uint8_t *)p + ((n * sizeof(struct net_slot) + NET_PAGE -
				    1) & ~(size_t)(NET_PAGE - 1));
	if (c->pages + n * NET_PAGE > (uint8_t *)p + len)
		c->nslots = n - 1;
	return 0;
}

#define WAYS	4	/* candidate slots per page */

/* Candidate `which` (0..WAYS-1) of a hash: double hashing. */
static size_t
slot_of(const struct net_cache *c, const uint8_t hash[16], int which)
{
	uint64_t a, b;

	memcpy(&a, hash, 8);
	memcpy(&b, hash + 8, 8);
	return (size_t)((a + (uint64_t)which * (b | 1)) % c->nslots);
}

/* see net.h */
int
net_cache_get(const struct net_cache *c, const uint8_t hash[16], void *out)
{
	int w;

	for (w = 0; w < WAYS && c->slots; w++) {
		size_t i = slot_of(c, hash, w);
		struct net_slot *s = &c->slots[i];
		uint64_t s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);

		if ((s1 & 1) || memcmp(s->hash, hash, 16) != 0)
			continue;
		/* pread, not memcpy: no page fault per cached page on this
		 * process's mapping of the cache. */
		if (pread(c->fd, out, NET_PAGE, (off_t)(c->pages - (uint8_t *)
			  c->slots) + (off_t)(i * NET_PAGE)) != NET_PAGE)
			continue;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == s1 &&
		    memcmp(s->hash, hash, 16) == 0)
			return 1;
	}
	return 0;
}

/* see net.h */
void
net_cache_put(struct net_cache *c, const uint8_t hash[16], const void *page)
{
	struct net_slot *s;
	uint64_t seq;
	size_t i;
	int w;

	if (!c->slots)
		return;
	/* Already there, or the first free candidate, or the first. */
	i = slot_of(c, hash, 0);
	for (w = WAYS - 1; w >= 0; w--) {
		size_t j = slot_of(c, hash, w);

		if (memcmp(c->slots[j].hash, hash, 16) == 0)
			return;
		if (!c->slots[j].seq)
			i = j;
	}
	s = &c->slots[i];
	seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
	if ((seq & 1) || !__atomic_compare_exchange_n(&s->seq, &seq, seq + 1,
			0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;		/* another writer has it */
	memcpy(c->pages + i * NET_PAGE, page, NET_PAGE);
	memcpy(s->hash, hash, 16);
	__atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
}
