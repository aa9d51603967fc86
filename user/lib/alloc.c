/*
 * alloc.c -- the det allocator: one heap per space, at addresses that
 * depend only on the space's place in the tree and on program order.
 *
 * Address space.  At start-up the root reserves HEAP_SIZE bytes at the
 * fixed address HEAP_BASE (PROT_NONE: no memory yet).  Every space owns
 * a range of it: the root all of it; a child the range its parent
 * carved out of its own free address space ("holes") at det_fork --
 * with n children outstanding, 1/(n+2) of the largest hole, from its
 * bottom -- so the sequence of grants, and with it every address, is a
 * function of program order alone.
 *
 * Heap.  A space's heap is made of chunks of memory made read-write on
 * demand (1 MiB, doubling to 64 MiB); the first starts the range, and
 * its first block is the heap's header (struct heap: free lists, chunk
 * list), at a fixed place (heap_at).  A child's chunks are new to its
 * parent: kern publishes them whole at join (space_new_range) and maps
 * them at the same addresses.  Blocks carry a 16-byte header (size class
 * or pages, flags, the allocation site).  Small sizes (<= 64 KiB) use 44
 * size classes with LIFO free lists; larger blocks get whole pages,
 * reused first-fit (their pages dropped while free).
 *
 * No false conflicts.  A space writes only its own heap's metadata.
 * free() of a block outside the caller's range (its parent's, or an
 * earlier-joined sibling's that the parent adopted) is deferred: noted
 * in the caller's own heap, applied by the parent after a successful
 * join, in order.  At join the parent also adopts the child's heap:
 * its free blocks join the parent's free lists, its chunks the parent's
 * chunk list (its header is freed: a block like any other), its unused
 * address space the parent's holes.  A failed join returns the whole range
 * -- unless a det_sync merged the child's heap before: that heap, as the
 * sync left it, is adopted (the parent may hold its blocks).
 *
 * Reuse across rounds.  A child allocates only in its own range, never
 * from its parent's free lists (that would make siblings share state).
 * Memory a parent frees reaches later children through the holes
 * instead: at det_fork, when no child is running and enough was freed
 * since the last time (TRIM_MIN, and 1/8 of the heap's chunks), the
 * parent retires every chunk whose blocks are all free (heap_trim): off
 * its free lists, its pages dropped (the root makes it PROT_NONE again;
 * a child keeps it mapped, see range_retire), its addresses back in the
 * holes -- where the next grant, carved from the bottom of the largest
 * hole, finds them.  A loop of fork/join rounds whose blocks the parent
 * frees thus keeps reusing the same addresses and pages.  Trimming
 * depends only on the heap's state: addresses stay a function of program
 * order.  A chunk holding one live block is not retired: its free blocks
 * serve the parent only.
 *
 * State that must never be merged (which heap is current, the holes,
 * the grants handed to children) lives in `A`, a private mapping
 * excluded from merging.  The heaps themselves are ordinary merged
 * memory.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/single_threaded.h>
#include <unistd.h>

#include "alloc.h"
#include "det.h"
#include "kern.h"

#define HEAP_BASE	0x200000000000UL	/* 32 TiB */
#define HEAP_SIZE	0x200000000000UL	/* 32 TiB of addresses */
#define PAGE		4096UL
#define CHUNK_MIN	(1UL << 20)
#define CHUNK_MAX	(64UL << 20)
#define GRANT_MIN	(4UL << 20)
#define MAX_DEPTH	64
#define NCLASS		44
#define SMALL_MAX	65536UL
#define HDR		16

#define HEAP_MAGIC	0xde7a11ec0ffee000ULL
#define CHUNK_MAGIC	0xc4c4de7aU
#define BLK_MAGIC	0xde7a

#define F_FREE		1	/* on a free list */
#define F_LARGE		2	/* npages counts whole pages */
#define F_ALIAS		4	/* aligned alias: site = real header */
#define F_DEFERRED	8	/* freed by a child of its owner: the owner
				   frees it at join (a second free in that
				   child, or a sibling's, is caught) */
#define F_TRIM		16	/* free, in a chunk being retired */
#define TRIM_MIN	(1UL << 20)	/* bytes freed before a trim */

#define ALIGN_UP(x, a)	(((x) + (a) - 1) & ~((uintptr_t)(a) - 1))

/* Before every block. */
struct blk {
	uint16_t magic;
	uint8_t flags;
	uint8_t cls;
	uint32_t npages;
	uintptr_t site;		/* return address of the allocating call */
};

/* At the start of every chunk; chunks of a heap are linked. */
struct chunk {
	uint32_t magic;
	uint32_t pad;
	uintptr_t end;		/* one past the chunk */
	uintptr_t used;		/* blocks fill [chunk + 32, used) */
	struct chunk *next;
};

/* A deferred free: a block of another space, freed here. */
struct dfree {
	struct dfree *next;
	void *ptr;
};

/*
 * A space's heap, at the start of its range: merged memory.  Invariant:
 * only the owning space writes it while the space runs -- except
 * child_used[k], which only child k writes (one byte each).
 */
struct heap {
	uint64_t magic;
	uintptr_t lo;		/* the space's range */
	uintptr_t hi;
	uintptr_t bump;		/* next byte of the current chunk */
	struct chunk *cur;	/* the current chunk */
	struct chunk *chunks;	/* all chunks, newest first */
	size_t chunk_next;	/* size of the next chunk */
	struct blk *free[NCLASS];
	struct blk *large;	/* free large blocks */
	struct dfree *dhead;	/* deferred frees, in order */
	struct dfree *dtail;
	size_t mapped;		/* bytes of all chunks */
	size_t freed;		/* bytes freed since the last trim */
	uint8_t child_used[DET_MAX_CHILDREN];
};

_Static_assert(sizeof(struct heap) <= SMALL_MAX && HDR % 16 == 0,
	       "a heap's header is a small block");

/* The heap of the space whose range starts at lo: the first block of
 * its first chunk (a fixed place, found without reading anything). */
static inline struct heap *
heap_at(uintptr_t lo)
{
	return (struct heap *)(lo + sizeof(struct chunk) + HDR);
}

/* Private, never merged (registered with space_exclude). */
struct astate {
	pthread_mutex_t lock;
	int inited;
	struct heap *h;		/* this space's heap; NULL until first use
				   in a child */
	struct rt_range mine;	/* this space's range */
	uint8_t *used_flag;	/* child_used[self] in the parent's heap */
	/* This range's free address space ("holes"): kept here, so forks
	 * and joins of children that do not allocate leave the heap
	 * untouched (and the snapshot holder reusable).  A hole that does
	 * not fit is dropped: address space is lost, never memory. */
	struct rt_rangeset space;
	struct rt_range grant[DET_MAX_CHILDREN];	/* to our children */
	struct heap *anc[MAX_DEPTH];	/* ancestors' heaps, root first */
	unsigned nanc;
	/* The heap area's read-write parts this space can see (its own
	 * chunks, its ancestors' as of its fork, adopted ones): a pointer
	 * elsewhere is not a block, and reading its header would fault.
	 * On overflow, pointers are not checked. */
	struct rt_rangeset mem;
};

static struct astate *A DET_PRIVATE;	/* set once, before any fork */

/* The lock, taken only once the process has more than one thread
 * (__libc_single_threaded stays 0 once a thread was created). */
static void
lock(void)
{
	if (!__libc_single_threaded)
		pthread_mutex_lock(&A->lock);
}

static void
unlock(void)
{
	if (!__libc_single_threaded)
		pthread_mutex_unlock(&A->lock);
}

/* ---- size classes -------------------------------------------------- */

/* Class of a small size n (1 <= n <= SMALL_MAX): 16-byte steps to 128,
 * then four classes per doubling. */
static unsigned
size_class(size_t n)
{
	unsigned lg;
	size_t base, q;

	if (n <= 128)
		return n ? (unsigned)((n + 15) / 16 - 1) : 0;
	lg = 63 - (unsigned)__builtin_clzl(n - 1);
	base = 1UL << lg;
	q = (n - base + base / 4 - 1) / (base / 4);
	return 8 + (lg - 7) * 4 + (unsigned)(q - 1);
}

static size_t
class_size(unsigned c)
{
	unsigned lg;

	if (c < 8)
		return 16 * (c + 1);
	lg = 7 + (c - 8) / 4;
	return (1UL << lg) + ((c - 8) % 4 + 1) * ((1UL << lg) / 4);
}

/* Bytes a block occupies, header included. */
static size_t
blk_total(const struct blk *b)
{
	return (b->flags & F_LARGE) ? (size_t)b->npages * PAGE
				    : HDR + class_size(b->cls);
}

static size_t
blk_usable(const struct blk *b)
{
	return blk_total(b) - HDR;
}

/* ---- errors -------------------------------------------------------- */

/* Bad use of the allocator: one line, then this space ends (SIGABRT:
 * a child's parent sees DET_EFAULT; nothing of it is applied). */
static void __attribute__((noreturn))
bad_use(const char *what, const void *p)
{
	char line[160];
	int n;

	n = snprintf(line, sizeof(line), "det: %s(%p): %s; ending this "
		     "space (depth %u)\n", what, p,
		     "not a live block of the det allocator",
		     space_depth());
	if (n > 0)
		(void)!write(STDERR_FILENO, line, (size_t)n);
	signal(SIGABRT, SIG_DFL);
	raise(SIGABRT);
	_exit(134);
}

/* ---- holes: free address space of a range --------------------------- */

/* Return [lo, hi) to the holes hs.  A full set first drops its smallest
 * hole, if that is smaller (address space is lost, never memory). */
static void
holes_put(struct rt_rangeset *hs, uintptr_t lo, uintptr_t hi)
{
	size_t i, small = 0;

	if (hs->n == RT_MAX_RANGES) {
		for (i = 1; i < hs->n; i++)
			if (hs->r[i].hi - hs->r[i].lo <
			    hs->r[small].hi - hs->r[small].lo)
				small = i;
		if (hs->r[small].hi - hs->r[small].lo < hi - lo)
			rt_range_del(hs, hs->r[small].lo, hs->r[small].hi);
	}
	rt_range_add(hs, lo, hi);
}

/* Take `size` bytes from the bottom of hole i of hs; their address. */
static uintptr_t
holes_cut(struct rt_rangeset *hs, size_t i, size_t size)
{
	uintptr_t lo = hs->r[i].lo;

	rt_range_del(hs, lo, lo + size);
	return lo;
}

/* Take `size` bytes from the lowest hole that has them; 0 if none. */
static uintptr_t
holes_take_low(struct rt_rangeset *hs, size_t size)
{
	size_t i;

	for (i = 0; i < hs->n; i++)
		if (hs->r[i].hi - hs->r[i].lo >= size)
			return holes_cut(hs, i, size);
	return 0;
}

/*
 * Add to hs the parts of heap ch's range that it does not use: all but
 * its chunks (a space's grants to children that were
 * never joined are free again: nothing of them was ever mapped here).
 * With too many chunks to sort, returns nothing (addresses are lost,
 * never memory).
 */
static void
holes_from_heap(struct rt_rangeset *hs, struct heap *ch)
{
	struct rt_range used[512];
	struct chunk *c;
	size_t n = 0, i, j;
	uintptr_t at;

	for (c = ch->chunks; c; c = c->next) {
		if (n == 512)
			return;
		/* insertion sort by address */
		for (i = n; i > 0 && used[i - 1].lo > (uintptr_t)c; i--)
			used[i] = used[i - 1];
		used[i].lo = (uintptr_t)c;
		used[i].hi = c->end;
		n++;
	}
	for (at = ch->lo, j = 0; j < n; j++) {
		if (used[j].lo > at)
			holes_put(hs, at, used[j].lo);
		if (used[j].hi > at)
			at = used[j].hi;
	}
	holes_put(hs, at, ch->hi);
}

/* ---- memory this space can see ------------------------------------- */

/* Note [lo, hi) as read-write heap memory; forget it again. */
static void
mem_add(uintptr_t lo, uintptr_t hi)
{
	rt_range_add(&A->mem, lo, hi);
}

static void
mem_del(uintptr_t lo, uintptr_t hi)
{
	rt_range_del(&A->mem, lo, hi);
}

/*
 * 1 when [a, a + len) lies in a chunk of the heap of child k, still
 * running, whose memory we got at a det_sync (its heap is merged here
 * but not adopted).
 */
static int
mem_in_child(uintptr_t a, size_t len)
{
	struct heap *ch;
	struct chunk *c;
	unsigned k;

	for (k = 0; A->h && k < DET_MAX_CHILDREN; k++) {
		if (!A->grant[k].hi || !A->h->child_used[k] ||
		    a < A->grant[k].lo || a >= A->grant[k].hi)
			continue;
		ch = heap_at(A->grant[k].lo);
		if (ch->magic != HEAP_MAGIC)
			return 0;
		for (c = ch->chunks; c; c = c->next)
			if (a >= (uintptr_t)c && a + len <= c->end)
				return 1;
		return 0;
	}
	return 0;
}

/* 1 when [a, a + len) lies in heap memory this space can see. */
static int
mem_has(uintptr_t a, size_t len)
{
	int i;

	if (A->mem.overflow)
		return 1;
	i = rt_range_find(&A->mem, a);
	if (i >= 0)
		return a + len <= A->mem.r[i].hi;
	return mem_in_child(a, len);
}

/* ---- chunks --------------------------------------------------------- */

/*
 * Make a new chunk of at least `need` bytes read-write and link it.
 * In a child the chunk is new memory for the parent: tell kern.
 * Returns the chunk or NULL (ENOMEM).
 */
static struct chunk *
chunk_new(struct heap *h, size_t need)
{
	size_t size = h->chunk_next;
	struct chunk *c;
	uintptr_t lo;

	if (size < ALIGN_UP(need + sizeof(*c), CHUNK_MIN))
		size = ALIGN_UP(need + sizeof(*c), CHUNK_MIN);
	lo = holes_take_low(&A->space, size);
	if (!lo)
		return NULL;
	if (mprotect((void *)lo, size, PROT_READ | PROT_WRITE) < 0 ||
	    space_new_range(lo, lo + size) < 0) {
		holes_put(&A->space, lo, lo + size);
		return NULL;
	}
	if (h->chunk_next < CHUNK_MAX)
		h->chunk_next *= 2;
	h->mapped += size;
	mem_add(lo, lo + size);
	c = (struct chunk *)lo;
	c->magic = CHUNK_MAGIC;
	c->end = lo + size;
	c->used = lo + sizeof(*c);
	c->next = h->chunks;
	h->chunks = c;
	return c;
}

/* Carve `total` bytes (a multiple of 16) for a new block. */
static struct blk *
carve(struct heap *h, size_t total)
{
	struct chunk *c;
	struct blk *b;

	if (!h->cur || h->bump + total > h->cur->end) {
		c = chunk_new(h, total);
		if (!c)
			return NULL;
		/* A block bigger than a quarter chunk gets its own chunk;
		 * the current one stays current. */
		if (total > CHUNK_MAX / 4 && h->cur) {
			b = (struct blk *)(c + 1);
			c->used = (uintptr_t)b + total;
			return b;
		}
		if (h->cur)
			h->cur->used = h->bump;
		h->cur = c;
		h->bump = (uintptr_t)(c + 1);
	}
	b = (struct blk *)h->bump;
	h->bump += total;
	h->cur->used = h->bump;
	return b;
}

/* ---- heaps ---------------------------------------------------------- */

/* Set up a heap over [lo, hi) for the calling space: its first chunk
 * at lo, whose first block is the header (see heap_at); the rest of the
 * range is free address space. */
static struct heap *
heap_create(uintptr_t lo, uintptr_t hi)
{
	unsigned cls = size_class(sizeof(struct heap));
	struct chunk *c = (struct chunk *)lo;
	struct blk *b = (struct blk *)(c + 1);
	struct heap *h = heap_at(lo);

	if (hi - lo < CHUNK_MIN)
		return NULL;
	if (mprotect((void *)lo, CHUNK_MIN, PROT_READ | PROT_WRITE) < 0 ||
	    space_new_range(lo, lo + CHUNK_MIN) < 0)
		return NULL;
	mem_add(lo, lo + CHUNK_MIN);
	c->magic = CHUNK_MAGIC;
	c->end = lo + CHUNK_MIN;
	c->next = NULL;
	b->magic = BLK_MAGIC;
	b->flags = 0;
	b->cls = (uint8_t)cls;
	b->npages = 0;
	b->site = 0;
	memset(h, 0, sizeof(*h));
	h->magic = HEAP_MAGIC;
	h->lo = lo;
	h->hi = hi;
	h->chunk_next = CHUNK_MIN;
	h->mapped = CHUNK_MIN;
	h->cur = c;
	h->chunks = c;
	h->bump = (uintptr_t)(b + 1) + class_size(cls);
	c->used = h->bump;
	A->space.n = 0;
	holes_put(&A->space, lo + CHUNK_MIN, hi);
	return h;
}

static size_t alloc_limit(void);

/* Keep `A` out of every merge (once the runtime is up: before any fork,
 * alloc_fork_prepare calls this again). */
static void
alloc_exclude(void)
{
	space_exclude((uintptr_t)A, (uintptr_t)A + ALIGN_UP(sizeof(*A), PAGE));
}

/*
 * First use in the process: map the private state, reserve the heap
 * area and create the root heap.  Runs before main at the latest (the
 * first malloc), so it allocates nothing itself.
 */
static void
alloc_init_once(void)
{
	void *p;

	if (!A) {
		p = mmap(NULL, ALIGN_UP(sizeof(*A), PAGE),
			 PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return;
		A = p;
		pthread_mutex_init(&A->lock, NULL);
	}
	p = mmap((void *)HEAP_BASE, HEAP_SIZE, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
		 MAP_FIXED_NOREPLACE, -1, 0);
	if (p != (void *)HEAP_BASE) {
		static const char msg[] = "det: cannot reserve the heap "
			"area at 0x200000000000 (already in use)\n";

		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		if (p != MAP_FAILED)
			munmap(p, HEAP_SIZE);
		return;
	}
	alloc_exclude();
	alloc_limit();		/* sysconf: not in a sandboxed child */
	A->h = heap_create(HEAP_BASE, HEAP_BASE + HEAP_SIZE);
	if (!A->h)
		return;
	A->inited = 1;
}

/* The calling space's heap, made on first use in a child (lock held).
 * NULL when out of memory. */
static struct heap *
alloc_current(void)
{
	if (!A->h && A->mine.hi) {
		A->h = heap_create(A->mine.lo, A->mine.hi);
		if (A->h && A->used_flag)
			*A->used_flag = 1;
	}
	return A->h;
}

/*
 * Set up once per process, whichever thread allocates first (threads
 * may race to their first malloc: only one may reserve the area).
 * 0, or -1 when the allocator cannot work.
 */
static int
alloc_init(void)
{
	static pthread_once_t once DET_PRIVATE = PTHREAD_ONCE_INIT;

	if (A && A->inited)
		return 0;
	pthread_once(&once, alloc_init_once);
	return A && A->inited ? 0 : -1;
}

/* see alloc.h */
void
alloc_state_range(uintptr_t *lo, uintptr_t *hi)
{
	alloc_init();
	*lo = (uintptr_t)A;
	*hi = A ? (uintptr_t)A + ALIGN_UP(sizeof(*A), PAGE) : 0;
}

/* ---- allocation ----------------------------------------------------- */

/* The largest block: physical memory plus swap, like the kernel's
 * overcommit heuristic for one mapping (the heap area is reserved
 * without accounting, so the kernel would not refuse it). */
static size_t
alloc_limit(void)
{
	static size_t limit DET_PRIVATE;
	long pages, psize;

	if (!limit) {
		pages = sysconf(_SC_PHYS_PAGES);
		psize = sysconf(_SC_PAGESIZE);
		limit = pages > 0 && psize > 0 ? (size_t)pages *
			(size_t)psize : HEAP_SIZE / 2;
	}
	return limit;
}

/* Allocate n bytes in the current heap (lock held). */
static void *
heap_alloc(struct heap *h, size_t n, uintptr_t site)
{
	struct blk *b, **pp;
	size_t total;
	unsigned c;

	if (n == 0)
		n = 1;
	if (n <= SMALL_MAX) {
		c = size_class(n);
		b = h->free[c];
		if (b) {
			h->free[c] = *(struct blk **)(b + 1);
		} else {
			b = carve(h, HDR + class_size(c));
			if (!b)
				return NULL;
		}
		b->cls = (uint8_t)c;
		b->npages = 0;
		b->flags = 0;
	} else {
		/* npages has 32 bits: at most 16 TiB - 4 KiB a block. */
		if (n > alloc_limit() || n + HDR > (size_t)UINT32_MAX * PAGE)
			return NULL;
		total = ALIGN_UP(n + HDR, PAGE);
		for (pp = &h->large; *pp; pp = (struct blk **)(*pp + 1))
			if ((size_t)(*pp)->npages * PAGE >= total &&
			    (size_t)(*pp)->npages * PAGE <= total * 2)
				break;
		b = *pp;
		if (b) {
			*pp = *(struct blk **)(b + 1);
		} else {
			b = carve(h, total);
			if (!b)
				return NULL;
			b->npages = (uint32_t)(total / PAGE);
		}
		b->cls = 0;
		b->flags = F_LARGE;
	}
	b->magic = BLK_MAGIC;
	b->site = site;
	return b + 1;
}

/* The header of block p, following an aligned alias; NULL if p is not
 * a block of ours. */
static struct blk *
blk_of(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	struct blk *b;

	if (a < HEAP_BASE + HDR || a >= HEAP_BASE + HEAP_SIZE || (a & 15) ||
	    !mem_has(a - HDR, HDR))
		return NULL;
	b = (struct blk *)p - 1;
	if (b->magic != BLK_MAGIC)
		return NULL;
	if (b->flags & F_ALIAS) {
		b = (struct blk *)b->site;
		if (!mem_has((uintptr_t)b, HDR) || b->magic != BLK_MAGIC ||
		    (b->flags & F_ALIAS))
			return NULL;
	}
	return b;
}

/* Put block b on h's free lists (h owns b's address). */
static void
heap_release(struct heap *h, struct blk *b)
{
	struct blk **list = (b->flags & F_LARGE) ? &h->large
						 : &h->free[b->cls];
	uintptr_t lo = ALIGN_UP((uintptr_t)(b + 1) + sizeof(void *), PAGE);
	uintptr_t hi = ((uintptr_t)b + blk_total(b)) & ~(PAGE - 1);

	b->flags = (uint8_t)((b->flags & ~F_DEFERRED) | F_FREE);
	*(struct blk **)(b + 1) = *list;
	*list = b;
	h->freed += blk_total(b);
	/* A large block gives its whole pages back (it keeps its header
	 * page for the free list); they come back zeroed when reused. */
	if ((b->flags & F_LARGE) && hi > lo)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* ---- trimming: wholly free chunks go back to the holes ---------------- */

/*
 * Give [lo, hi) (page aligned) back to this space's free address space:
 * no memory behind it any more, no block in it, and its addresses free
 * for a later chunk or a child's grant -- this is how children reuse
 * memory their parent freed.  The root makes it a PROT_NONE reservation
 * again, as at start-up.  A child only drops the pages: the range may be
 * part of the memory it was forked with (a resumed space's own chunks,
 * merged into its parent at a det_sync), which must stay readable for
 * its dirty-page backend.  A read-write hole is harmless: chunk_new
 * makes it read-write anyway, and it is not published to the parent.
 */
static void
range_retire(uintptr_t lo, uintptr_t hi)
{
	if (space_depth() > 0 ||
	    mmap((void *)lo, hi - lo, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
	(void)space_drop_range(lo, hi);
	mem_del(lo, hi);
	holes_put(&A->space, lo, hi);
}

/* 1 when every block of chunk c is free; then marks them F_TRIM.  A
 * header that is not one (the program wrote over it) keeps the chunk. */
static int
chunk_free_all(struct chunk *c)
{
	const struct blk *b;
	uintptr_t p;

	for (p = (uintptr_t)(c + 1); p < c->used; p += blk_total(b)) {
		b = (const struct blk *)p;
		if (b->magic != BLK_MAGIC || !(b->flags & F_FREE) ||
		    blk_total(b) == 0 || blk_total(b) > c->used - p)
			return 0;
	}
	for (p = (uintptr_t)(c + 1); p < c->used;
	     p += blk_total((struct blk *)p))
		((struct blk *)p)->flags |= F_TRIM;
	return 1;
}

/* Unlink the blocks marked F_TRIM from free list *pp. */
static void
list_drop_trimmed(struct blk **pp)
{
	while (*pp) {
		struct blk **next = (struct blk **)(*pp + 1);

		if ((*pp)->flags & F_TRIM)
			*pp = *next;
		else
			pp = next;
	}
}

/*
 * Retire the chunks of h whose blocks are all free (never the current
 * one): off the free lists and the chunk list, their memory dropped and
 * their addresses back in the holes.  Deterministic: it depends only on
 * the heap's state.  The caller has no child running (a running child
 * may still write to its snapshot of a block here, and its join must
 * find the memory in place).  Lock held.
 */
static void
heap_trim(struct heap *h)
{
	struct chunk *c, **cp, *gone = NULL;
	unsigned i;

	h->freed = 0;
	for (cp = &h->chunks; (c = *cp);) {
		if (c == h->cur || !chunk_free_all(c)) {
			cp = &c->next;
			continue;
		}
		*cp = c->next;
		c->next = gone;
		gone = c;
	}
	if (!gone)
		return;
	for (i = 0; i < NCLASS; i++)
		list_drop_trimmed(&h->free[i]);
	list_drop_trimmed(&h->large);
	for (c = gone; c; c = gone) {
		gone = c->next;
		h->mapped -= c->end - (uintptr_t)c;
		range_retire((uintptr_t)c, c->end);
	}
}

/* Free p in the current space (lock held). */
static void
heap_free(struct heap *h, void *p, const char *what)
{
	struct blk *b = blk_of(p);
	struct dfree *d;

	if (!b || (b->flags & (F_FREE | F_DEFERRED)))
		bad_use(what, p);
	if ((uintptr_t)b >= h->lo && (uintptr_t)b < h->hi) {
		heap_release(h, b);
		return;
	}
	/* Another space's block: the parent frees it at join.  The mark
	 * catches a second free here; two siblings freeing it both change
	 * that byte: a conflict at the second join. */
	b->flags |= F_DEFERRED;
	d = heap_alloc(h, sizeof(*d), 0);
	if (!d)
		return;		/* out of memory: the block leaks */
	d->next = NULL;
	d->ptr = p;
	if (h->dtail)
		h->dtail->next = d;
	else
		h->dhead = d;
	h->dtail = d;
}

/* ---- fork and join ---------------------------------------------------- */

/* see alloc.h */
int
alloc_fork_prepare(unsigned child)
{
	struct rt_rangeset *hs;
	struct heap *h;
	size_t i, n, best = 0, size, avail;
	int rc = -ENOMEM;

	if (alloc_init() < 0)
		return -ENOMEM;
	alloc_exclude();
	lock();
	h = alloc_current();
	if (!h) {
		unlock();
		return -ENOMEM;
	}
	for (i = 0, n = 0; i < DET_MAX_CHILDREN; i++)
		n += A->grant[i].hi != 0;
	/* Before the grant: wholly free chunks return to the holes, so
	 * this child (and we) can take their addresses again.  Only with
	 * no child running (see heap_trim), and after enough frees that
	 * the walk over the heap pays. */
	if (!n && h->freed >= TRIM_MIN && h->freed >= h->mapped / 8)
		heap_trim(h);
	hs = &A->space;
	for (i = 1; i < hs->n; i++)
		if (hs->r[i].hi - hs->r[i].lo > hs->r[best].hi - hs->r[best].lo)
			best = i;
	if (hs->n) {
		/* With n children outstanding, 1/(n+2) of the largest hole:
		 * the k-th of many gets about 1/k^2 of it, and a chain of
		 * nested spaces keeps at least 1/2 per level -- wide and
		 * deep trees both get room. */
		avail = hs->r[best].hi - hs->r[best].lo;
		size = (avail / (n + 2)) & ~(CHUNK_MIN - 1);
		if (size < GRANT_MIN)
			size = avail < GRANT_MIN ? avail : GRANT_MIN;
		if (size >= GRANT_MIN / 2) {
			/* From the bottom of the hole: what the child uses
			 * (the start of its range) then sits next to what
			 * earlier children used, and kern's list of fresh
			 * ranges stays short. */
			A->grant[child].lo = holes_cut(hs, best, size);
			A->grant[child].hi = A->grant[child].lo + size;
			if (h->child_used[child])
				h->child_used[child] = 0;
			rc = 0;
		}
	}
	unlock();
	return rc;
}


/* see alloc.h */
void
alloc_fork_abort(unsigned child)
{
	lock();
	holes_put(&A->space, A->grant[child].lo, A->grant[child].hi);
	memset(&A->grant[child], 0, sizeof(A->grant[child]));
	unlock();
}

/* see alloc.h */
void
alloc_child_start(unsigned child)
{
	struct heap *parent, *mine;

	if (!A || !A->inited)
		return;
	/* This space's range is the grant; its heap is made on first use,
	 * and until then the parent's heap is read, never written.  A
	 * space resumed after a barrier finds the heap it had made, merged
	 * into the parent's memory it was forked from. */
	parent = A->h;
	mine = heap_at(A->grant[child].lo);
	A->mine = A->grant[child];
	A->used_flag = parent ? &parent->child_used[child] : NULL;
	if (A->nanc < MAX_DEPTH)
		A->anc[A->nanc++] = parent;
	A->h = NULL;
	A->space.n = 0;
	if (parent && parent->child_used[child] && mine->magic == HEAP_MAGIC) {
		struct chunk *c;

		A->h = mine;
		holes_from_heap(&A->space, mine);
		for (c = mine->chunks; c; c = c->next)
			mem_add((uintptr_t)c, c->end);
	}
	memset(A->grant, 0, sizeof(A->grant));
}

/* Move every block of list `from` onto list *to (both of the parent). */
static void
list_adopt(struct blk **to, struct blk *from)
{
	while (from) {
		struct blk *next = *(struct blk **)(from + 1);

		*(struct blk **)(from + 1) = *to;
		*to = from;
		from = next;
	}
}

/*
 * Take over child heap chp, now merged into ours: apply its deferred
 * frees in order, adopt its free blocks, chunks and unused addresses.
 * The header itself is of no use any more: its block is freed first
 * (so the blocks the child freed come back before it), and its first
 * chunk can be retired like any other.
 */
static void
heap_adopt(struct heap *h, struct heap *chp)
{
	struct heap ch = *chp;
	struct dfree *d, *next;
	struct chunk *tail;
	unsigned c;

	heap_release(h, (struct blk *)chp - 1);
	/* Its memory is ours now. */
	for (tail = ch.chunks; tail; tail = tail->next)
		mem_add((uintptr_t)tail, tail->end);
	for (d = ch.dhead; d; d = next) {
		struct blk *b = blk_of(d->ptr);

		next = d->next;
		if (!b || (b->flags & F_FREE)) {
			fprintf(stderr, "det: free(%p) in a child: not a live "
				"block (double free?); ignored at join\n",
				d->ptr);
		} else {
			b->flags &= (uint8_t)~F_DEFERRED;
			heap_free(h, d->ptr, "free");
		}
		heap_release(h, blk_of(d));
	}
	for (c = 0; c < NCLASS; c++)
		list_adopt(&h->free[c], ch.free[c]);
	list_adopt(&h->large, ch.large);
	h->mapped += ch.mapped;
	h->freed += ch.freed;
	/* Before ch's chunks join ours: this walks ch's chunk list. */
	holes_from_heap(&A->space, &ch);
	if (ch.chunks) {
		for (tail = ch.chunks; tail->next; tail = tail->next)
			;
		tail->next = h->chunks;
		h->chunks = ch.chunks;
	}
}

/* see alloc.h */
void
alloc_join_done(unsigned child)
{
	struct rt_range g;
	struct heap *h, *ch;

	if (!A || !A->inited)
		return;
	lock();
	h = A->h;
	g = A->grant[child];
	memset(&A->grant[child], 0, sizeof(A->grant[child]));
	ch = heap_at(g.lo);
	if (h && g.hi) {
		/* child_used[child] is set here only by a merge of the
		 * child's memory (we clear it at fork): its heap as of
		 * the last merge that applied -- this join, or a det_sync
		 * before a join that failed -- is in our memory, and
		 * blocks of it may be in use. */
		if (h->child_used[child] && ch->magic == HEAP_MAGIC &&
		    ch->lo == g.lo)
			heap_adopt(h, ch);
		else
			holes_put(&A->space, g.lo, g.hi);
		if (h->child_used[child])
			h->child_used[child] = 0;
	}
	unlock();
}

/* heap h's block containing addr, described into buf; 0 or -1. */
static int
heap_describe(struct heap *h, uintptr_t addr, char *buf, size_t len)
{
	char site[80];
	struct chunk *c;
	struct blk *b;
	uintptr_t p;

	for (c = h->chunks; c; c = c->next) {
		if (addr < (uintptr_t)c || addr >= c->end)
			continue;
		for (p = (uintptr_t)(c + 1); p < c->used; p += blk_total(b)) {
			b = (struct blk *)p;
			if (b->magic != BLK_MAGIC || blk_total(b) == 0)
				return -1;
			if (addr >= p + blk_total(b))
				continue;
			if (addr < p + HDR) {
				snprintf(buf, len, "heap block header");
				return 0;
			}
			if (!b->site || space_describe_code(b->site, site,
							    sizeof(site)))
				snprintf(site, sizeof(site), "%#lx",
					 (unsigned long)b->site);
			snprintf(buf, len, "heap block of %zu bytes "
				 "allocated at %s", blk_usable(b), site);
			return 0;
		}
		return -1;
	}
	return -1;
}

/*
 * Conflict reports: "heap block of N bytes allocated at SITE" for an
 * address inside a block of the calling space's heap or of one of its
 * ancestors' (their memory is ours too, as of our fork).  0, or -1 when
 * addr is not in a block.
 */
static int
alloc_describe(uintptr_t addr, char *buf, size_t len)
{
	int i;

	if (!A || addr < HEAP_BASE || addr >= HEAP_BASE + HEAP_SIZE)
		return -1;
	if (A->h && heap_describe(A->h, addr, buf, len) == 0)
		return 0;
	for (i = (int)A->nanc - 1; i >= 0; i--)
		if (A->anc[i] && heap_describe(A->anc[i], addr, buf, len) == 0)
			return 0;
	return -1;
}

/* see alloc.h */
void
alloc_register(void)
{
	space_set_hooks(alloc_child_start, alloc_describe);
}

/* ---- the API ---------------------------------------------------------- */

static void *
do_malloc(size_t n, uintptr_t site)
{
	struct heap *h;
	void *p = NULL;

	if ((!A || !A->inited) && alloc_init() < 0) {
		errno = ENOMEM;
		return NULL;
	}
	lock();
	h = alloc_current();
	if (h)
		p = heap_alloc(h, n, site);
	unlock();
	if (!p)
		errno = ENOMEM;
	return p;
}

static void
do_free(void *p, const char *what)
{
	struct heap *h;

	if (!p)
		return;
	if (!A || !A->inited)
		bad_use(what, p);
	lock();
	h = alloc_current();
	if (h)
		heap_free(h, p, what);
	unlock();
}

static void *
do_calloc(size_t n, size_t size, uintptr_t site)
{
	void *p;

	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	p = do_malloc(n * size, site);
	if (p)
		memset(p, 0, n * size);
	return p;
}

static void *
do_realloc(void *p, size_t n, uintptr_t site)
{
	struct blk *b;
	void *q;
	size_t old;

	if (!p)
		return do_malloc(n, site);
	if (n == 0) {
		do_free(p, "realloc");
		return NULL;
	}
	b = blk_of(p);
	if (!b || (b->flags & F_FREE))
		bad_use("realloc", p);
	old = blk_usable(b) - ((uintptr_t)p - (uintptr_t)(b + 1));
	/* Shrinking or growing within the block: keep it, if it is ours
	 * (writing another space's header would be a false conflict). */
	if (n <= old && n >= old / 2 && !(b->flags & F_LARGE) &&
	    A->h && (uintptr_t)b >= A->h->lo && (uintptr_t)b < A->h->hi)
		return p;
	q = do_malloc(n, site);
	if (!q)
		return NULL;
	memcpy(q, p, n < old ? n : old);
	do_free(p, "realloc");
	return q;
}

static void *
do_memalign(size_t align, size_t n, uintptr_t site)
{
	uintptr_t raw, q;
	struct blk *alias, *b;
	void *p;

	if (align <= 16)
		return do_malloc(n, site);
	if (n > SIZE_MAX - align - HDR) {
		errno = ENOMEM;
		return NULL;
	}
	p = do_malloc(n + align + HDR, site);
	if (!p)
		return NULL;
	raw = (uintptr_t)p;
	if (!(raw & (align - 1)))
		return p;
	q = ALIGN_UP(raw + HDR, align);
	b = (struct blk *)p - 1;
	alias = (struct blk *)q - 1;
	alias->magic = BLK_MAGIC;
	alias->flags = F_ALIAS;
	alias->cls = 0;
	alias->npages = 0;
	alias->site = (uintptr_t)b;
	return (void *)q;
}

#define SITE	((uintptr_t)__builtin_return_address(0))

/* see det.h */
void *
det_malloc(size_t n)
{
	return do_malloc(n, SITE);
}

/* see det.h */
void *
det_calloc(size_t n, size_t size)
{
	return do_calloc(n, size, SITE);
}

/* see det.h */
void *
det_realloc(void *p, size_t n)
{
	return do_realloc(p, n, SITE);
}

/* see det.h */
void
det_free(void *p)
{
	do_free(p, "free");
}

/* see det.h */
size_t
det_malloc_usable_size(void *p)
{
	struct blk *b;

	if (!p)
		return 0;
	b = blk_of(p);
	if (!b || (b->flags & F_FREE))
		bad_use("malloc_usable_size", p);
	return blk_usable(b) - ((uintptr_t)p - (uintptr_t)(b + 1));
}

/* posix_memalign's contract: 0, EINVAL or ENOMEM; *out set on 0. */
static int
do_posix_memalign(void **out, size_t align, size_t n, uintptr_t site)
{
	void *p;

	if (!align || (align & (align - 1)) || align % sizeof(void *))
		return EINVAL;
	p = do_memalign(align, n, site);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

/* see det.h */
int
det_posix_memalign(void **out, size_t align, size_t n)
{
	return do_posix_memalign(out, align, n, SITE);
}

/*
 * The standard names, so that every allocation of the program and of
 * libc (stdio, qsort, strdup...) comes from the space's own heap.  Not
 * in sanitizer builds: AddressSanitizer owns malloc there.
 */
#ifndef __SANITIZE_ADDRESS__
void *
malloc(size_t n)
{
	return do_malloc(n, SITE);
}

void
free(void *p)
{
	do_free(p, "free");
}

void *
calloc(size_t n, size_t size)
{
	return do_calloc(n, size, SITE);
}

void *
realloc(void *p, size_t n)
{
	return do_realloc(p, n, SITE);
}

void *
reallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return do_realloc(p, n * size, SITE);
}

int
posix_memalign(void **out, size_t align, size_t n)
{
	return do_posix_memalign(out, align, n, SITE);
}

/* aligned_alloc and memalign: a power-of-two alignment, or EINVAL. */
static void *
do_aligned(size_t align, size_t n, uintptr_t site)
{
	if (!align || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	return do_memalign(align, n, site);
}

void *
aligned_alloc(size_t align, size_t n)
{
	return do_aligned(align, n, SITE);
}

void *
memalign(size_t align, size_t n)
{
	return do_aligned(align, n, SITE);
}

void *
valloc(size_t n)
{
	return do_memalign(PAGE, n, SITE);
}

void *
pvalloc(size_t n)
{
	return do_memalign(PAGE, ALIGN_UP(n, PAGE), SITE);
}

size_t
malloc_usable_size(void *p)
{
	return det_malloc_usable_size(p);
}
#endif /* __SANITIZE_ADDRESS__ */
