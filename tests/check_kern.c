/*
 * check_kern.c -- unit tests of kern/ internals: address-range sets
 * (rt.c), which memory is merged (space_map.c), the dirty-page backends
 * (dirty_*.c) and their selection (dirty.c).
 *
 * Random tests print their seed (DET_TEST_SEED reruns one).  The dirty
 * tests fork a tracked process that forks its own snapshot holder, as a
 * space does, and report the bitmap back through shared memory.
 */
#define KERN_INTERNAL
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dirty.h"
#include "rt.h"
#include "testutil.h"

#define P	PAGE_SIZE

/*
 * ck_assert_msg for hot loops: a passing Check assertion costs a message
 * to the runner (mark_point), so only a failure calls into Check.
 */
#define check_quiet(expr, ...) do {					\
	if (!(expr))							\
		ck_abort_msg(__VA_ARGS__);				\
} while (0)

/* A non-zero generator state from the printed seed. */
static uint64_t
seed_state(const char *what, unsigned long salt)
{
	uint64_t s = test_seed(what) * 0x9e3779b97f4a7c15ull + salt;

	return s ? s : 1;
}

/* Every range well formed, sorted, non-overlapping, non-touching. */
static void
rs_check_shape(const struct rt_rangeset *s, const char *ctx)
{
	size_t i;

	check_quiet(s->n <= RT_MAX_RANGES, "%s: %zu ranges", ctx, s->n);
	for (i = 0; i < s->n; i++) {
		check_quiet(s->r[i].lo < s->r[i].hi,
			    "%s: range %zu is [%#lx, %#lx)", ctx, i,
			    (unsigned long)s->r[i].lo,
			    (unsigned long)s->r[i].hi);
		if (i > 0)
			check_quiet(s->r[i - 1].hi < s->r[i].lo,
				    "%s: ranges %zu and %zu overlap or "
				    "touch: [%#lx, %#lx) [%#lx, %#lx)",
				    ctx, i - 1, i,
				    (unsigned long)s->r[i - 1].lo,
				    (unsigned long)s->r[i - 1].hi,
				    (unsigned long)s->r[i].lo,
				    (unsigned long)s->r[i].hi);
	}
}

/* ---- range sets: examples ----------------------------------------- */

struct rs_op {
	char op;		/* 'a' add, 'd' delete, 0 ends the list */
	uintptr_t lo;
	uintptr_t hi;
};

struct rs_case {
	const char *name;
	struct rs_op ops[6];
	size_t nwant;
	struct rt_range want[4];
};

static const struct rs_case rs_cases[] = {
	{ "one range", { { 'a', 10, 20 } }, 1, { { 10, 20 } } },
	{ "empty add is ignored", { { 'a', 10, 20 }, { 'a', 5, 5 },
	  { 'a', 30, 30 } }, 1, { { 10, 20 } } },
	{ "kept sorted", { { 'a', 30, 40 }, { 'a', 10, 20 },
	  { 'a', 50, 60 } }, 3, { { 10, 20 }, { 30, 40 }, { 50, 60 } } },
	{ "touching on the right coalesces", { { 'a', 10, 20 },
	  { 'a', 20, 30 } }, 1, { { 10, 30 } } },
	{ "touching on the left coalesces", { { 'a', 20, 30 },
	  { 'a', 10, 20 } }, 1, { { 10, 30 } } },
	{ "a gap of one stays", { { 'a', 10, 20 }, { 'a', 21, 30 } }, 2,
	  { { 10, 20 }, { 21, 30 } } },
	{ "bridging a gap joins both", { { 'a', 10, 20 }, { 'a', 30, 40 },
	  { 'a', 20, 30 } }, 1, { { 10, 40 } } },
	{ "contained add changes nothing", { { 'a', 10, 20 },
	  { 'a', 12, 15 } }, 1, { { 10, 20 } } },
	{ "overlap widens both ends", { { 'a', 10, 20 }, { 'a', 5, 25 } },
	  1, { { 5, 25 } } },
	{ "overlap swallows the next", { { 'a', 10, 20 }, { 'a', 30, 40 },
	  { 'a', 15, 35 } }, 1, { { 10, 40 } } },
	{ "overlap swallows several", { { 'a', 10, 20 }, { 'a', 30, 40 },
	  { 'a', 50, 60 }, { 'a', 70, 80 }, { 'a', 0, 65 } }, 2,
	  { { 0, 65 }, { 70, 80 } } },
	{ "swallow up to a touching one", { { 'a', 10, 20 },
	  { 'a', 30, 40 }, { 'a', 50, 60 }, { 'a', 15, 50 } }, 1,
	  { { 10, 60 } } },
	{ "delete splits a middle", { { 'a', 10, 40 }, { 'd', 20, 30 } }, 2,
	  { { 10, 20 }, { 30, 40 } } },
	{ "delete the front end", { { 'a', 10, 40 }, { 'd', 5, 15 } }, 1,
	  { { 15, 40 } } },
	{ "delete the back end", { { 'a', 10, 40 }, { 'd', 35, 50 } }, 1,
	  { { 10, 35 } } },
	{ "delete exactly the front end", { { 'a', 10, 40 },
	  { 'd', 10, 15 } }, 1, { { 15, 40 } } },
	{ "delete exactly the back end", { { 'a', 10, 40 },
	  { 'd', 35, 40 } }, 1, { { 10, 35 } } },
	{ "delete a whole range", { { 'a', 10, 20 }, { 'a', 30, 40 },
	  { 'a', 50, 60 }, { 'd', 30, 40 } }, 2,
	  { { 10, 20 }, { 50, 60 } } },
	{ "delete the first, cut the next", { { 'a', 10, 20 },
	  { 'a', 30, 40 }, { 'd', 0, 35 } }, 1, { { 35, 40 } } },
	{ "delete across several", { { 'a', 10, 20 }, { 'a', 30, 40 },
	  { 'a', 50, 60 }, { 'd', 15, 55 } }, 2,
	  { { 10, 15 }, { 55, 60 } } },
	{ "delete everything", { { 'a', 10, 20 }, { 'a', 30, 40 },
	  { 'd', 0, 100 } }, 0, { { 0, 0 } } },
	{ "delete touching only cuts nothing", { { 'a', 10, 20 },
	  { 'd', 0, 10 }, { 'd', 20, 30 } }, 1, { { 10, 20 } } },
	{ "delete in a gap cuts nothing", { { 'a', 10, 20 },
	  { 'a', 30, 40 }, { 'd', 22, 28 } }, 2,
	  { { 10, 20 }, { 30, 40 } } },
	{ "empty delete inside a range", { { 'a', 10, 40 },
	  { 'd', 25, 25 } }, 1, { { 10, 40 } } },
	{ "split then re-add heals", { { 'a', 10, 40 }, { 'd', 20, 30 },
	  { 'a', 20, 30 } }, 1, { { 10, 40 } } },
};

START_TEST(test_rangeset_table)
{
	const struct rs_case *c = &rs_cases[_i];
	struct rt_rangeset *s = calloc(1, sizeof(*s));
	const struct rs_op *o;
	size_t i;

	ck_assert_ptr_nonnull(s);
	for (o = c->ops; o < c->ops + 6 && o->op; o++) {
		if (o->op == 'a')
			rt_range_add(s, o->lo * P, o->hi * P);
		else
			rt_range_del(s, o->lo * P, o->hi * P);
	}
	ck_assert_msg(s->n == c->nwant, "%s: %zu ranges, expected %zu",
		      c->name, s->n, c->nwant);
	for (i = 0; i < c->nwant; i++)
		ck_assert_msg(s->r[i].lo == c->want[i].lo * P &&
			      s->r[i].hi == c->want[i].hi * P,
			      "%s: range %zu is [%lu, %lu) pages, expected "
			      "[%lu, %lu)", c->name, i,
			      (unsigned long)(s->r[i].lo / P),
			      (unsigned long)(s->r[i].hi / P),
			      (unsigned long)c->want[i].lo,
			      (unsigned long)c->want[i].hi);
	rs_check_shape(s, c->name);
	free(s);
}
END_TEST

/* ---- range sets: random operations against a bitmap --------------- */

#define RS_PAGES	256
#define RS_BASE		0x10000000UL
#define RS_STEPS	10000

/* The set covers exactly the pages the model marks. */
static void
rs_check_model(const struct rt_rangeset *s, const unsigned char *model,
	       unsigned long seed, int step)
{
	unsigned char got[RS_PAGES];
	char ctx[64];
	size_t i, k;

	snprintf(ctx, sizeof(ctx), "seed %lu step %d", seed, step);
	rs_check_shape(s, ctx);
	memset(got, 0, sizeof(got));
	for (i = 0; i < s->n; i++) {
		check_quiet(s->r[i].lo >= RS_BASE &&
			    s->r[i].hi <= RS_BASE + RS_PAGES * P &&
			    s->r[i].lo % P == 0 && s->r[i].hi % P == 0,
			    "%s: range %zu", ctx, i);
		for (k = (s->r[i].lo - RS_BASE) / P;
		     k < (s->r[i].hi - RS_BASE) / P; k++)
			got[k] = 1;
	}
	for (k = 0; k < RS_PAGES; k++)
		check_quiet(got[k] == model[k], "seed %lu step %d: page %zu"
			    " is %s, model says %s", seed, step, k,
			    got[k] ? "in" : "out",
			    model[k] ? "in" : "out");
}

START_TEST(test_rangeset_random)
{
	unsigned long seed = test_seed("check_kern rangeset");
	uint64_t st = seed * 0x9e3779b97f4a7c15ull + 1;
	struct rt_rangeset *s = calloc(1, sizeof(*s));
	unsigned char model[RS_PAGES];
	size_t maxn = 0;
	int step, j;

	ck_assert_ptr_nonnull(s);
	if (!st)
		st = 1;
	memset(model, 0, sizeof(model));
	for (step = 0; step < RS_STEPS; step++) {
		uint64_t r = test_rand(&st);
		size_t lo = (size_t)(r >> 8) % RS_PAGES, len, hi, k;
		int add = (r & 7) < 5;	/* slightly more adds than dels */

		if ((r >> 40) % 64 == 0)
			len = (size_t)(r >> 48) % RS_PAGES;	/* big */
		else if ((r >> 40) % 64 == 1)
			len = 0;				/* empty */
		else
			len = 1 + (size_t)(r >> 48) % 12;
		hi = lo + len > RS_PAGES ? RS_PAGES : lo + len;
		if (add)
			rt_range_add(s, RS_BASE + lo * P, RS_BASE + hi * P);
		else
			rt_range_del(s, RS_BASE + lo * P, RS_BASE + hi * P);
		for (k = lo; k < hi; k++)
			model[k] = (unsigned char)add;
		rs_check_model(s, model, seed, step);
		if (s->n > maxn)
			maxn = s->n;
		for (j = 0; j < 8; j++) {
			uint64_t q = test_rand(&st);
			uintptr_t a = RS_BASE - P +
				      (uintptr_t)(q % ((RS_PAGES + 2) * P));
			int idx = rt_range_find(s, a), in;

			in = a >= RS_BASE && a < RS_BASE + RS_PAGES * P &&
			     model[(a - RS_BASE) / P];
			check_quiet((idx >= 0) == in, "seed %lu step %d: "
				    "find(%#lx) = %d, model says %s", seed,
				    step, (unsigned long)a, idx,
				    in ? "in" : "out");
			check_quiet(idx < 0 || (s->r[idx].lo <= a &&
						a < s->r[idx].hi),
				    "seed %lu step %d: find(%#lx) = %d",
				    seed, step, (unsigned long)a, idx);
		}
	}
	/* The run must have produced real fragmentation. */
	ck_assert_uint_ge(maxn, 10);
	free(s);
}
END_TEST

/*
 * A full set never drops a range: an add that finds no room widens a
 * neighbour, a delete that would split keeps the whole range.  The set
 * may then cover too much, never too little.
 */
START_TEST(test_rangeset_full)
{
	struct rt_rangeset *s = calloc(1, sizeof(*s));
	size_t k;

	ck_assert_ptr_nonnull(s);
	for (k = 0; k < RT_MAX_RANGES; k++)
		rt_range_add(s, (4 * k + 1) * P, (4 * k + 4) * P);
	ck_assert_uint_eq(s->n, RT_MAX_RANGES);
	rs_check_shape(s, "full set");
	ck_assert_int_eq(s->overflow, 0);
	/* A range that needs a new slot is refused: the set is unchanged
	 * and says it overflowed (callers then fail, never merge). */
	rt_range_add(s, 4 * RT_MAX_RANGES * P + 2 * P,
		     4 * RT_MAX_RANGES * P + 3 * P);
	ck_assert_uint_eq(s->n, RT_MAX_RANGES);
	ck_assert_int_lt(rt_range_find(s, 4 * RT_MAX_RANGES * P + 2 * P), 0);
	ck_assert_int_eq(s->overflow, 1);
	s->overflow = 0;
	rt_range_add(s, 40 * P + 10, 40 * P + 20);
	ck_assert_int_lt(rt_range_find(s, 40 * P + 10), 0);
	ck_assert_int_eq(s->overflow, 1);
	s->overflow = 0;
	/* One that touches or overlaps a range needs no slot: it fits. */
	rt_range_add(s, 0, 2 * P);
	ck_assert_uint_eq(s->n, RT_MAX_RANGES);
	ck_assert_int_eq(rt_range_find(s, 0), 0);
	ck_assert_int_eq(s->overflow, 0);
	rs_check_shape(s, "full set");
	/* A middle delete cannot split: the range stays whole, and the
	 * set says so. */
	rt_range_del(s, 21 * P + 100, 22 * P);
	ck_assert_uint_eq(s->n, RT_MAX_RANGES);
	ck_assert_int_ge(rt_range_find(s, 21 * P + 100), 0);
	ck_assert_int_eq(s->overflow, 1);
	/* Cutting an end still works, and frees no slot. */
	rt_range_del(s, 25 * P, 26 * P);
	ck_assert_int_lt(rt_range_find(s, 25 * P), 0);
	ck_assert_int_ge(rt_range_find(s, 26 * P), 0);
	/* A whole delete frees a slot: a split then works again. */
	rt_range_del(s, 8 * P, 13 * P);
	ck_assert_uint_eq(s->n, RT_MAX_RANGES - 1);
	rt_range_del(s, 30 * P, 31 * P);
	ck_assert_uint_eq(s->n, RT_MAX_RANGES);
	ck_assert_int_lt(rt_range_find(s, 30 * P), 0);
	ck_assert_int_ge(rt_range_find(s, 29 * P), 0);
	ck_assert_int_ge(rt_range_find(s, 31 * P), 0);
	rs_check_shape(s, "full set");
	free(s);
}
END_TEST

/* ---- map_collect ---------------------------------------------------- */

static char bss_var[3 * 4096];

static int
set_overlaps(const struct rt_rangeset *s, uintptr_t lo, uintptr_t hi)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->r[i].lo < hi && lo < s->r[i].hi)
			return 1;
	return 0;
}

/* Sorted, page aligned, disjoint, `first` running, nothing excluded. */
static void
regions_check(const struct regions *m)
{
	size_t i, pages = 0;

	ck_assert_uint_gt(m->n, 0);
	ck_assert_uint_ge(m->bytes, sizeof(*m) + m->n * sizeof(m->r[0]));
	for (i = 0; i < m->n; i++) {
		const struct region *r = &m->r[i];

		ck_assert_msg(r->lo < r->hi && r->lo % P == 0 &&
			      r->hi % P == 0, "region %zu [%#lx, %#lx)", i,
			      (unsigned long)r->lo, (unsigned long)r->hi);
		if (i > 0)
			ck_assert_msg(m->r[i - 1].hi <= r->lo,
				      "regions %zu and %zu unsorted or "
				      "overlapping", i - 1, i);
		ck_assert_uint_eq(r->first, pages);
		ck_assert(r->kind == REGION_EXE || r->kind == REGION_HEAP ||
			  r->kind == REGION_ANON);
		ck_assert_msg(!set_overlaps(&rt->own, r->lo, r->hi),
			      "region %zu holds runtime memory", i);
		ck_assert_msg(!set_overlaps(&rt->sys, r->lo, r->hi),
			      "region %zu holds system memory", i);
		pages += (r->hi - r->lo) / P;
	}
	ck_assert_uint_eq(m->npages, pages);
}

/* Every page of [lo, hi) is in some region. */
static int
regions_cover(const struct regions *m, uintptr_t lo, uintptr_t hi)
{
	uintptr_t a;

	for (a = PAGE_DOWN(lo); a < hi; a += P)
		if (!map_find(m, a))
			return 0;
	return 1;
}

/* No page of [lo, hi) is in any region. */
static int
regions_avoid(const struct regions *m, uintptr_t lo, uintptr_t hi)
{
	uintptr_t a;

	for (a = PAGE_DOWN(lo); a < hi; a += P)
		if (map_find(m, a))
			return 0;
	return 1;
}

/* Regions found by address: map_find agrees with a linear search. */
static void
regions_find_check(const struct regions *m, uintptr_t a)
{
	const struct region *want = NULL;
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m->r[i].lo <= a && a < m->r[i].hi)
			want = &m->r[i];
	ck_assert_ptr_eq(map_find(m, a), want);
}

#define FRESH_LEN	(16 * P)

START_TEST(test_map_collect)
{
	volatile int local = 1;
	struct regions *m = NULL, *m2 = NULL;
	char *fresh, *ro, *shared, *own, *heap;
	const struct region *r;
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	size_t i;

	fresh = mmap(NULL, FRESH_LEN, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, 4 * P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shared = mmap(NULL, 4 * P, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(fresh, MAP_FAILED);
	ck_assert_ptr_ne(ro, MAP_FAILED);
	ck_assert_ptr_ne(shared, MAP_FAILED);
	own = rt_mmap(4 * P, 0);
	ck_assert_ptr_nonnull(own);
	ck_assert_int_ge(rt_range_find(&rt->own, (uintptr_t)own), 0);
	heap = malloc(100);
	ck_assert_ptr_nonnull(heap);
	fresh[0] = shared[0] = own[0] = heap[0] = bss_var[0] = 1;

	ck_assert_int_eq(map_collect(&m), 0);
	ck_assert_ptr_nonnull(m);
	regions_check(m);

	ck_assert_msg(regions_cover(m, (uintptr_t)fresh,
				    (uintptr_t)fresh + FRESH_LEN),
		      "a fresh anonymous mapping is not merged");
	r = map_find(m, (uintptr_t)fresh);
	ck_assert_int_eq(r->kind, REGION_ANON);
	ck_assert_msg(regions_cover(m, (uintptr_t)heap, (uintptr_t)heap + 100),
		      "malloc'ed memory is not merged");
#ifndef __SANITIZE_ADDRESS__
	/* malloc is the det allocator: its heap area (anonymous memory at
	 * a fixed address).  (ASan's allocator is elsewhere.) */
	ck_assert_int_eq(map_find(m, (uintptr_t)heap)->kind, REGION_ANON);
	ck_assert_uint_ge((uintptr_t)heap, 0x200000000000UL);
#endif
	ck_assert_msg(regions_cover(m, (uintptr_t)bss_var,
				    (uintptr_t)bss_var + sizeof(bss_var)),
		      "the executable's bss is not merged");
	ck_assert_int_eq(map_find(m, (uintptr_t)bss_var)->kind, REGION_EXE);
	/* The `rt` pointer itself is the runtime's one merged variable. */
	ck_assert_ptr_nonnull(map_find(m, (uintptr_t)&rt));

	ck_assert_msg(!map_find(m, (uintptr_t)&local), "a local is merged");
	ck_assert_msg(!map_find(m, sp), "the stack is merged");
	ck_assert_msg(regions_avoid(m, (uintptr_t)own, (uintptr_t)own + 4 * P),
		      "rt_mmap memory is merged");
	ck_assert_msg(regions_avoid(m, (uintptr_t)rt, (uintptr_t)(rt + 1)),
		      "the runtime state is merged");
	ck_assert_msg(regions_avoid(m, (uintptr_t)m, (uintptr_t)m + m->bytes),
		      "the region list itself is merged");
	ck_assert_msg(!map_find(m, (uintptr_t)stdout),
		      "libc's stdout FILE is merged");
	ck_assert_msg(!map_find(m, (uintptr_t)stderr),
		      "libc's stderr FILE is merged");
	ck_assert_msg(regions_avoid(m, (uintptr_t)ro, (uintptr_t)ro + 4 * P),
		      "a PROT_READ mapping is merged");
	ck_assert_msg(regions_avoid(m, (uintptr_t)shared,
				    (uintptr_t)shared + 4 * P),
		      "a MAP_SHARED mapping is merged");

	/* map_find is a correct binary search. */
	for (i = 0; i < m->n; i++) {
		regions_find_check(m, m->r[i].lo - 1);
		regions_find_check(m, m->r[i].lo);
		regions_find_check(m, m->r[i].hi - 1);
		regions_find_check(m, m->r[i].hi);
	}
	regions_find_check(m, 0);
	regions_find_check(m, UINTPTR_MAX);

	/* Unmapped memory disappears from the next collection. */
	munmap(fresh, FRESH_LEN);
	ck_assert_int_eq(map_collect(&m2), 0);
	regions_check(m2);
	ck_assert_msg(regions_avoid(m2, (uintptr_t)fresh,
				    (uintptr_t)fresh + FRESH_LEN),
		      "an unmapped mapping is still merged");
	ck_assert(regions_cover(m2, (uintptr_t)bss_var,
				(uintptr_t)bss_var + sizeof(bss_var)));

	/* rt_munmap forgets runtime memory in rt->own. */
	rt_munmap(own, 4 * P);
	ck_assert_int_lt(rt_range_find(&rt->own, (uintptr_t)own), 0);

	map_free(m2);
	map_free(m);
	free(heap);
	munmap(ro, 4 * P);
	munmap(shared, 4 * P);
}
END_TEST

/*
 * A tracked region the mprotect backend made read-only is still merged;
 * an untracked read-only mapping is not.
 */
START_TEST(test_map_collect_tracked_readonly)
{
	struct regions *m = NULL, *m2 = NULL;
	char *fresh, *ro;

	fresh = mmap(NULL, FRESH_LEN, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, 4 * P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(fresh, MAP_FAILED);
	ck_assert_ptr_ne(ro, MAP_FAILED);
	ck_assert_int_eq(map_collect(&m), 0);
	ck_assert(regions_cover(m, (uintptr_t)fresh,
				(uintptr_t)fresh + FRESH_LEN));
	ck_assert(regions_avoid(m, (uintptr_t)ro, (uintptr_t)ro + 4 * P));

	ck_assert_int_eq(mprotect(fresh + 4 * P, 3 * P, PROT_READ), 0);
	rt->map = m;
	ck_assert_int_eq(map_collect(&m2), 0);
	rt->map = NULL;
	regions_check(m2);
	ck_assert_msg(regions_cover(m2, (uintptr_t)fresh,
				    (uintptr_t)fresh + FRESH_LEN),
		      "a tracked page made read-only is no longer merged");
	ck_assert(regions_avoid(m2, (uintptr_t)ro, (uintptr_t)ro + 4 * P));
	map_free(m2);

	/* Untracked (rt->map unset), the read-only part is not merged. */
	ck_assert_int_eq(map_collect(&m2), 0);
	ck_assert(regions_avoid(m2, (uintptr_t)fresh + 4 * P,
				(uintptr_t)fresh + 7 * P));
	ck_assert(regions_cover(m2, (uintptr_t)fresh,
				(uintptr_t)fresh + 4 * P));
	ck_assert(regions_cover(m2, (uintptr_t)fresh + 7 * P,
				(uintptr_t)fresh + FRESH_LEN));
	map_free(m2);
	map_free(m);
	munmap(fresh, FRESH_LEN);
	munmap(ro, 4 * P);
}
END_TEST

/* ---- dirty-page backends -------------------------------------------- */

#define D1_PAGES	64
#define D2_PAGES	32
#define D_PAGES		(D1_PAGES + D2_PAGES)
#define D_BM		((D_PAGES + 7) / 8)
#define D_GUARD		8
#define D_MAXW		(4 * D_PAGES)
#define D_ROUNDS	4

/* One write: byte ^= mask (mask 0 writes the same value back). */
struct dwrite {
	unsigned page;
	unsigned off;
	unsigned char mask;
};

/* What the tracked process reports (shared memory). */
struct dreport {
	int stage;		/* 0 when all went well, else the failed step */
	int err;
	long count;
	uint8_t bm[D_BM + D_GUARD];	/* the guard must stay zero */
};

struct dfix {
	struct regions *m;
	unsigned char *a;	/* D1_PAGES */
	unsigned char *b;	/* D2_PAGES */
	struct dreport *rep;
};

static unsigned char *
dpage(const struct regions *m, unsigned page)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (page >= m->r[i].first && page < m->r[i].first +
		    (m->r[i].hi - m->r[i].lo) / P)
			return (unsigned char *)m->r[i].lo +
			       (page - m->r[i].first) * P;
	return NULL;
}

static void
dfix_setup(struct dfix *f)
{
	f->a = mmap(NULL, D1_PAGES * P, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	f->b = mmap(NULL, D2_PAGES * P, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	f->rep = mmap(NULL, sizeof(*f->rep), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(f->a, MAP_FAILED);
	ck_assert_ptr_ne(f->b, MAP_FAILED);
	ck_assert_ptr_ne(f->rep, MAP_FAILED);
	f->m = rt_mmap(sizeof(*f->m) + 2 * sizeof(f->m->r[0]), 0);
	ck_assert_ptr_nonnull(f->m);
	f->m->bytes = sizeof(*f->m) + 2 * sizeof(f->m->r[0]);
	f->m->n = 2;
	f->m->npages = D_PAGES;
	f->m->r[0] = (struct region){ (uintptr_t)f->a,
				      (uintptr_t)f->a + D1_PAGES * P, 0,
				      REGION_ANON };
	f->m->r[1] = (struct region){ (uintptr_t)f->b,
				      (uintptr_t)f->b + D2_PAGES * P,
				      D1_PAGES, REGION_ANON };
	/* The regions need not be in address order for a backend, but
	 * map_find (mprotect's handler) wants them sorted. */
	if (f->m->r[1].lo < f->m->r[0].lo) {
		struct region t = f->m->r[0];

		f->m->r[0] = f->m->r[1];
		f->m->r[1] = t;
	}
}

static void
dfix_teardown(struct dfix *f)
{
	map_free(f->m);
	munmap(f->a, D1_PAGES * P);
	munmap(f->b, D2_PAGES * P);
	munmap(f->rep, sizeof(*f->rep));
}

/*
 * The tracked process: fork a snapshot holder, begin, write, collect,
 * end; report through rep.  Never returns.
 */
static void __attribute__((noreturn))
dirty_tracked(const struct dirty_ops *ops, const struct regions *m,
	      const struct dwrite *w, size_t nw, struct dreport *rep)
{
	pid_t self = getpid(), holder;
	void *st = NULL;
	size_t i;
	long n;
	int err;

	holder = fork();
	if (holder < 0) {
		rep->stage = 1;
		rep->err = errno;
		_exit(1);
	}
	if (holder == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != self)
			_exit(0);
		for (;;)
			pause();
	}
	err = ops->begin(m, &st);
	if (err) {
		rep->stage = 2;
		rep->err = -err;
		goto out;
	}
	for (i = 0; i < nw; i++) {
		volatile unsigned char *p = dpage(m, w[i].page) + w[i].off;

		*p = (unsigned char)(*p ^ w[i].mask);
	}
	n = ops->collect(m, st, rep->bm);
	ops->end(m, st);
	if (n < 0) {
		rep->stage = 3;
		rep->err = (int)-n;
		goto out;
	}
	rep->count = n;
	/* After end() every page is writable again. */
	for (i = 0; i < D_PAGES; i++)
		*(volatile unsigned char *)(dpage(m, (unsigned)i) + 7) = 7;
out:
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	_exit(0);
}

/*
 * Run the writes under backend ops in a tracked process and check its
 * report: changed pages always reported; for the exact backends nothing
 * unwritten (hash: nothing unchanged) is.
 */
static void
dirty_run(const struct dirty_ops *ops, struct dfix *f,
	  const struct dwrite *w, size_t nw, const char *what)
{
	unsigned char written[D_PAGES], changed[D_PAGES];
	int exact_written = strcmp(ops->name, "pagemap_scan") == 0 ||
			    strcmp(ops->name, "mprotect") == 0;
	int exact_changed = strcmp(ops->name, "hash") == 0;
	long bits = 0, extra = 0;
	pid_t pid;
	size_t i;
	int status;

	memset(written, 0, sizeof(written));
	memset(changed, 0, sizeof(changed));
	for (i = 0; i < nw; i++) {
		written[w[i].page] = 1;
		if (w[i].mask)
			changed[w[i].page] = 1;
	}
	memset(f->rep, 0, sizeof(*f->rep));
	f->rep->count = -1;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		dirty_tracked(ops, f->m, w, nw, f->rep);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "%s %s: tracked process status %#x", ops->name, what,
		      status);
	ck_assert_msg(f->rep->stage == 0, "%s %s: step %d failed: %s",
		      ops->name, what, f->rep->stage,
		      strerror(f->rep->err));
	for (i = 0; i < D_PAGES; i++) {
		int bit = dirty_bit_get(f->rep->bm, i);

		bits += bit;
		check_quiet(bit || !changed[i], "%s %s: page %zu changed "
			    "but not reported", ops->name, what, i);
		if (exact_written)
			check_quiet(!bit || written[i], "%s %s: page %zu "
				    "reported but never written",
				    ops->name, what, i);
		if (exact_changed)
			check_quiet(!bit || changed[i], "%s %s: page %zu "
				    "reported but unchanged", ops->name,
				    what, i);
		extra += bit && !written[i];
	}
	for (i = D_BM; i < D_BM + D_GUARD; i++)
		check_quiet(f->rep->bm[i] == 0, "%s %s: bitmap byte %zu "
			    "past the pages is set", ops->name, what, i);
	ck_assert_msg(f->rep->count == bits, "%s %s: collect said %ld, "
		      "%ld bits set", ops->name, what, f->rep->count, bits);
	if (extra)
		fprintf(stderr, "check_kern: %s %s: %ld unwritten pages "
			"reported (allowed)\n", ops->name, what, extra);
}

/* The backend of loop index i, or NULL (after a note) if it fails here. */
static const struct dirty_ops *
backend_or_skip(int i)
{
	const struct dirty_ops *ops = dirty_backends[i];
	int err;

	ck_assert_ptr_nonnull(ops);
	err = ops->probe();
	if (err) {
		fprintf(stderr, "check_kern: backend %s does not work here "
			"(%s): skipped\n", ops->name, strerror(-err));
		return NULL;
	}
	return ops;
}

START_TEST(test_dirty_random)
{
	static struct dwrite w[D_MAXW];
	const struct dirty_ops *ops = backend_or_skip(_i);
	uint64_t st;
	unsigned order[D_PAGES];
	char what[32];
	int round;

	if (!ops)
		return;
	st = seed_state("check_kern dirty", (unsigned long)_i * 7919 + 1);
	for (round = 0; round < D_ROUNDS; round++) {
		struct dfix f;
		size_t nw = 0, i, k;

		dfix_setup(&f);
		/* Exactly half the pages present, with varied contents. */
		for (i = 0; i < D_PAGES; i++)
			order[i] = (unsigned)i;
		for (i = D_PAGES - 1; i > 0; i--) {
			unsigned t = order[i];

			k = (size_t)(test_rand(&st) % (i + 1));
			order[i] = order[k];
			order[k] = t;
		}
		for (i = 0; i < D_PAGES / 2; i++)
			memset(dpage(f.m, order[i]),
			       (int)(test_rand(&st) >> 56) | 1, P);
		/* Per page: no write, a change, or same-value writes. */
		for (i = 0; i < D_PAGES; i++) {
			uint64_t r = test_rand(&st);
			unsigned kind = (unsigned)(r % 100), off, n, j;

			if (kind < 50)
				continue;
			off = (unsigned)(r >> 8) % P;
			if (kind < 85)
				w[nw++] = (struct dwrite){ (unsigned)i, off,
					(unsigned char)(1 + (r >> 24) % 255) };
			n = (unsigned)(r >> 40) % 3 + (kind >= 85);
			/* Same-value writes elsewhere in the page. */
			for (j = 1; j <= n; j++)
				w[nw++] = (struct dwrite){ (unsigned)i,
					(off + j * 1031) % (unsigned)P, 0 };
		}
		/* In a random order. */
		for (i = nw; i > 1; i--) {
			struct dwrite t;

			k = (size_t)(test_rand(&st) % i);
			t = w[i - 1];
			w[i - 1] = w[k];
			w[k] = t;
		}
		snprintf(what, sizeof(what), "round %d", round);
		dirty_run(ops, &f, w, nw, what);
		dfix_teardown(&f);
	}
}
END_TEST

START_TEST(test_dirty_edges)
{
	const struct dirty_ops *ops = backend_or_skip(_i);
	struct dwrite w[] = {
		{ 0, 0, 0x5a },
		{ D1_PAGES - 1, P - 1, 0xa5 },
		{ D1_PAGES, 0, 0x01 },
		{ D_PAGES - 1, P - 1, 0x80 },
	};
	struct dfix f;
	unsigned i;

	if (!ops)
		return;
	dfix_setup(&f);
	/* The first region present, the second not. */
	for (i = 0; i < D1_PAGES; i++)
		dpage(f.m, i)[P / 2] = 3;
	dirty_run(ops, &f, w, 4, "edges");
	/* Exactly the four edge pages, for every exact backend. */
	if (strcmp(ops->name, "pagemap_excl") != 0) {
		ck_assert_int_eq(f.rep->count, 4);
		ck_assert(dirty_bit_get(f.rep->bm, 0) &&
			  dirty_bit_get(f.rep->bm, D1_PAGES - 1) &&
			  dirty_bit_get(f.rep->bm, D1_PAGES) &&
			  dirty_bit_get(f.rep->bm, D_PAGES - 1));
	}
	dfix_teardown(&f);
}
END_TEST

/* Nothing written: nothing reported, by any backend. */
START_TEST(test_dirty_none)
{
	const struct dirty_ops *ops = backend_or_skip(_i);
	struct dfix f;
	unsigned i;

	if (!ops)
		return;
	dfix_setup(&f);
	for (i = 0; i < D_PAGES; i += 3)
		dpage(f.m, i)[0] = 9;
	dirty_run(ops, &f, NULL, 0, "no writes");
	ck_assert_int_eq(f.rep->count, 0);
	dfix_teardown(&f);
}
END_TEST

/* ---- dirty_select --------------------------------------------------- */

/* dirty_select(force) with stderr captured into buf. */
static const struct dirty_ops *
select_quiet(const char *force, char *buf, size_t len)
{
	const struct dirty_ops *ops;
	FILE *tmp = tmpfile();
	int saved, n;

	ck_assert_ptr_nonnull(tmp);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	dup2(fileno(tmp), STDERR_FILENO);
	ops = dirty_select(force);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = (int)fread(buf, 1, len - 1, tmp);
	buf[n < 0 ? 0 : n] = 0;
	fclose(tmp);
	return ops;
}

START_TEST(test_dirty_select)
{
	const struct dirty_ops *best = NULL, *got;
	char err[512];
	size_t i, j, nl = 0;

	for (i = 0; dirty_backends[i]; i++) {
		for (j = 0; j < i; j++)
			ck_assert_str_ne(dirty_backends[i]->name,
					 dirty_backends[j]->name);
		if (!best && dirty_backends[i]->probe() == 0)
			best = dirty_backends[i];
	}
	ck_assert_uint_eq(i, 4);
	ck_assert_ptr_nonnull(best);	/* hash works anywhere */

	ck_assert_ptr_eq(select_quiet("hash", err, sizeof(err)),
			 &dirty_hash_ops);
	ck_assert_str_eq(err, "");
	ck_assert_ptr_eq(select_quiet(NULL, err, sizeof(err)), best);
	ck_assert_str_eq(err, "");
	ck_assert_ptr_eq(select_quiet("", err, sizeof(err)), best);
	ck_assert_str_eq(err, "");

	ck_assert_ptr_null(select_quiet("nosuch", err, sizeof(err)));
	for (i = 0; err[i]; i++)
		nl += err[i] == '\n';
	ck_assert_msg(nl == 1 && strncmp(err, "det: dirty: ", 12) == 0 &&
		      strstr(err, "nosuch"), "error output: \"%s\"", err);

	/* Each name forces its backend, or nothing if it fails here. */
	for (i = 0; dirty_backends[i]; i++) {
		const struct dirty_ops *b = dirty_backends[i];
		int works = b->probe() == 0;

		got = select_quiet(b->name, err, sizeof(err));
		ck_assert_ptr_eq(got, works ? b : NULL);
		ck_assert_int_eq(err[0] != 0, !works);
	}
}
END_TEST

static Suite *
kern_suite(void)
{
	Suite *s = suite_create("kern");
	TCase *tc;
	int nb = 0;

	while (dirty_backends[nb])
		nb++;

	tc = tcase_create("rangeset");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_rangeset_table, 0,
			    (int)(sizeof(rs_cases) / sizeof(rs_cases[0])));
	tcase_add_test(tc, test_rangeset_random);
	tcase_add_test(tc, test_rangeset_full);
	suite_add_tcase(s, tc);

	tc = tcase_create("map");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_map_collect);
	tcase_add_test(tc, test_map_collect_tracked_readonly);
	suite_add_tcase(s, tc);

	tc = tcase_create("dirty");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_dirty_random, 0, nb);
	tcase_add_loop_test(tc, test_dirty_edges, 0, nb);
	tcase_add_loop_test(tc, test_dirty_none, 0, nb);
	tcase_add_test(tc, test_dirty_select);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	/* Pulls the runtime (and its constructor) out of libdet.a. */
	if (space_depth() != 0 || !rt || !rt->inited) {
		fprintf(stderr, "check_kern: the runtime is not set up\n");
		return EXIT_FAILURE;
	}
	return test_run(kern_suite());
}
