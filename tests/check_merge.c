/*
 * check_merge.c -- unit tests for merge/ (merge_equal, merge_conflicts,
 * merge_apply and their reference loops).
 *
 * Three kinds of test, each run on both the portable and the AVX2 path:
 *   table     hand-written cases with hand-written expected results;
 *   intervals every length 1..100 at many alignments, child and parent
 *             each changing one interval, expected results by interval
 *             arithmetic;
 *   random    seeded random triples (short and full pages) compared byte
 *             for byte against merge_*_ref.
 * The seed comes from DET_TEST_SEED, else the clock, and is printed first.
 * DET_SANITIZE scales the random counts down for instrumented builds.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "merge.h"

#define PAGE 4096
#define SLOP 128		/* room for misalignment around a buffer */
#define MAXE 5			/* edits per side in a table case */
#define MAXR 8			/* expected runs in a table case */
#define NOCAP ((size_t)-1)	/* table case: pass maxruns = MAXR */
#define SENT ((size_t)0x5e5e5e5e5e5e5e5eULL)	/* untouched run slot */

static unsigned long long test_seed;

/* ---------------------------------------------------------------- */
/* Helpers                                                          */
/* ---------------------------------------------------------------- */

/*
 * Select the implementation for the test's impl index (0 scalar,
 * 1 avx2).  Returns the name in use, or NULL when the CPU lacks AVX2 and
 * the AVX2 half of the test must be skipped (said once on stdout).
 */
static const char *
pick_impl(int impl)
{
	const char *name = merge_impl(impl == 0);

	if (impl == 0) {
		ck_assert_str_eq(name, "scalar");
		return name;
	}
	if (strcmp(name, "avx2") != 0) {
		printf("check_merge: CPU lacks AVX2, avx2 path skipped\n");
		return NULL;
	}
	return name;
}

/* First offset where a and b differ, or len when they are equal. */
static size_t
first_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len && a[i] == b[i]; i++)
		;
	return i;
}

static void
fill_runs(struct merge_run *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		r[i].off = SENT;
		r[i].len = SENT;
	}
}

/* ---------------------------------------------------------------- */
/* Table of hand-written cases                                      */
/* ---------------------------------------------------------------- */

/* Bytes [off, off+len) become snap ^ x (x != 0, so they always differ). */
struct edit { size_t off, len; uint8_t x; };

/*
 * One case.  Literal form: snap/child/parent/want are strings of len
 * bytes.  Edit form (snap == NULL): snap[i] = i * 131 + 7; child, parent
 * and the expected parent start as snap and take their edits in order.
 */
struct mcase {
	const char *name;
	size_t len;
	size_t align;		/* buffer offset from a 64-byte boundary */
	const char *snap, *child, *parent, *want;
	struct edit ce[MAXE], pe[MAXE], we[MAXE];
	size_t cap;		/* maxruns to pass, or NOCAP */
	size_t nruns;		/* expected total */
	struct merge_run runs[MAXR];	/* expected runs (first MAXR) */
	size_t written;		/* expected merge_apply result */
};

static const struct mcase cases[] = {
	{ "all equal", 11, 0, "hello world", "hello world", "hello world",
	  "hello world", .cap = NOCAP, .nruns = 0, .written = 0 },
	{ "all different", 8, 0, "aaaaaaaa", "bbbbbbbb", "cccccccc",
	  "cccccccc", .cap = NOCAP, .nruns = 1, .runs = { { 0, 8 } },
	  .written = 0 },
	{ "child only", 10, 0, "abcdefghij", "aBCdefghiJ", "abcdefghij",
	  "aBCdefghiJ", .cap = NOCAP, .nruns = 0, .written = 3 },
	{ "parent only", 10, 0, "abcdefghij", "abcdefghij", "Abcdefgh!j",
	  "Abcdefgh!j", .cap = NOCAP, .nruns = 0, .written = 0 },
	{ "same new value is a conflict", 4, 0, "abcd", "aXcd", "aXcd",
	  "aXcd", .cap = NOCAP, .nruns = 1, .runs = { { 1, 1 } },
	  .written = 0 },
	{ "mixed", 10, 0, "0123456789", "0A2B45C789", "0A23D5C7E9",
	  "0A2BD5C7E9", .cap = NOCAP, .nruns = 2,
	  .runs = { { 1, 1 }, { 6, 1 } }, .written = 1 },
	{ "four runs", 12, 0, "aaaaaaaaaaaa", "bbabbabbabba",
	  "ccaacaccacac", "ccabcaccacbc", .cap = NOCAP, .nruns = 4,
	  .runs = { { 0, 2 }, { 4, 1 }, { 6, 2 }, { 9, 1 } },
	  .written = 2 },
	{ "maxruns 2 < 4 runs", 12, 0, "aaaaaaaaaaaa", "bbabbabbabba",
	  "ccaacaccacac", "ccabcaccacbc", .cap = 2, .nruns = 4,
	  .runs = { { 0, 2 }, { 4, 1 }, { 6, 2 }, { 9, 1 } },
	  .written = 2 },
	{ "maxruns 0, runs NULL", 12, 0, "aaaaaaaaaaaa", "bbabbabbabba",
	  "ccaacaccacac", "ccabcaccacbc", .cap = 0, .nruns = 4,
	  .written = 2 },
	{ "maxruns 1 unaligned", 12, 5, "aaaaaaaaaaaa", "bbabbabbabba",
	  "ccaacaccacac", "ccabcaccacbc", .cap = 1, .nruns = 4,
	  .runs = { { 0, 2 }, { 4, 1 }, { 6, 2 }, { 9, 1 } },
	  .written = 2 },
	{ "unaligned literal", 7, 3, "\x80\x00\x7f\xff\x01\x80\x00",
	  "\x00\x00\x7f\x7f\x01\x00\x80", "\x80\x01\x7f\x7f\x00\x00\x00",
	  "\x00\x01\x7f\x7f\x00\x00\x80", .cap = NOCAP, .nruns = 2,
	  .runs = { { 3, 1 }, { 5, 1 } }, .written = 2 },
	{ "length 1, conflict", 1, 63, "a", "b", "c", "c", .cap = NOCAP,
	  .nruns = 1, .runs = { { 0, 1 } }, .written = 0 },
	{ "length 1, child", 1, 1, "a", "b", "a", "b", .cap = NOCAP,
	  .nruns = 0, .written = 1 },
	{ "page first byte conflict, last byte child", PAGE, 0,
	  .ce = { { 0, 1, 0x55 }, { PAGE - 1, 1, 1 } },
	  .pe = { { 0, 1, 0x55 } },
	  .we = { { 0, 1, 0x55 }, { PAGE - 1, 1, 1 } },
	  .cap = NOCAP, .nruns = 1, .runs = { { 0, 1 } }, .written = 1 },
	{ "page last byte conflict, first byte child", PAGE, 0,
	  .ce = { { 0, 1, 3 }, { PAGE - 1, 1, 0x10 } },
	  .pe = { { PAGE - 1, 1, 0x20 } },
	  .we = { { 0, 1, 3 }, { PAGE - 1, 1, 0x20 } },
	  .cap = NOCAP, .nruns = 1, .runs = { { PAGE - 1, 1 } },
	  .written = 1 },
	{ "page all conflict", PAGE, 0, .ce = { { 0, PAGE, 1 } },
	  .pe = { { 0, PAGE, 2 } }, .we = { { 0, PAGE, 2 } },
	  .cap = NOCAP, .nruns = 1, .runs = { { 0, PAGE } }, .written = 0 },
	{ "page all child", PAGE, 0, .ce = { { 0, PAGE, 0xff } },
	  .we = { { 0, PAGE, 0xff } }, .cap = NOCAP, .nruns = 0,
	  .written = PAGE },
	{ "page all parent", PAGE, 0, .pe = { { 0, PAGE, 0x80 } },
	  .we = { { 0, PAGE, 0x80 } }, .cap = NOCAP, .nruns = 0,
	  .written = 0 },
	{ "page disjoint halves", PAGE, 0, .ce = { { 0, PAGE / 2, 9 } },
	  .pe = { { PAGE / 2, PAGE / 2, 7 } },
	  .we = { { 0, PAGE / 2, 9 }, { PAGE / 2, PAGE / 2, 7 } },
	  .cap = NOCAP, .nruns = 0, .written = PAGE / 2 },
	{ "run crossing 32", 128, 0, .ce = { { 20, 30, 1 } },
	  .pe = { { 30, 40, 2 } },
	  .we = { { 20, 10, 1 }, { 30, 40, 2 } },
	  .cap = NOCAP, .nruns = 1, .runs = { { 30, 20 } }, .written = 10 },
	{ "run crossing 32, 64, 96", 128, 0, .ce = { { 31, 66, 1 } },
	  .pe = { { 31, 66, 1 } }, .we = { { 31, 66, 1 } },
	  .cap = NOCAP, .nruns = 1, .runs = { { 31, 66 } }, .written = 0 },
	{ "run 63..64 unaligned", 200, 17, .ce = { { 60, 10, 1 } },
	  .pe = { { 63, 2, 4 } }, .we = { { 60, 10, 1 }, { 63, 2, 4 } },
	  .cap = NOCAP, .nruns = 1, .runs = { { 63, 2 } }, .written = 8 },
	{ "runs split by one clean byte at 31, 64", 128, 0,
	  .ce = { { 0, 128, 1 } },
	  .pe = { { 0, 31, 2 }, { 32, 32, 2 }, { 65, 10, 2 } },
	  .we = { { 0, 128, 1 }, { 0, 31, 2 }, { 32, 32, 2 },
		  { 65, 10, 2 } },
	  .cap = NOCAP, .nruns = 3,
	  .runs = { { 0, 31 }, { 32, 32 }, { 65, 10 } }, .written = 55 },
	{ "run at end, len 100", 100, 0, .ce = { { 90, 10, 1 } },
	  .pe = { { 95, 5, 2 } }, .we = { { 90, 5, 1 }, { 95, 5, 2 } },
	  .cap = NOCAP, .nruns = 1, .runs = { { 95, 5 } }, .written = 5 },
	{ "run at end, len 64", 64, 0, .ce = { { 0, 64, 1 } },
	  .pe = { { 63, 1, 1 } }, .we = { { 0, 64, 1 } },
	  .cap = NOCAP, .nruns = 1, .runs = { { 63, 1 } }, .written = 63 },
	{ "run at end, len 65 align 1", 65, 1, .ce = { { 63, 2, 1 } },
	  .pe = { { 63, 2, 4 } }, .we = { { 63, 2, 4 } },
	  .cap = NOCAP, .nruns = 1, .runs = { { 63, 2 } }, .written = 0 },
	{ "run at end, len 33 align 31", 33, 31, .ce = { { 0, 33, 1 } },
	  .pe = { { 32, 1, 2 } }, .we = { { 0, 32, 1 }, { 32, 1, 2 } },
	  .cap = NOCAP, .nruns = 1, .runs = { { 32, 1 } }, .written = 32 },
	{ "whole buffer run, len 97 align 7", 97, 7, .ce = { { 0, 97, 3 } },
	  .pe = { { 0, 97, 5 } }, .we = { { 0, 97, 5 } },
	  .cap = NOCAP, .nruns = 1, .runs = { { 0, 97 } }, .written = 0 },
	{ "page maxruns 1 of 4", PAGE, 0, .ce = { { 0, PAGE, 1 } },
	  .pe = { { 1, 1, 2 }, { 40, 50, 2 }, { 1000, 3000, 2 },
		  { PAGE - 2, 2, 2 } },
	  .we = { { 0, PAGE, 1 }, { 1, 1, 2 }, { 40, 50, 2 },
		  { 1000, 3000, 2 }, { PAGE - 2, 2, 2 } },
	  .cap = 1, .nruns = 4,
	  .runs = { { 1, 1 }, { 40, 50 }, { 1000, 3000 },
		    { PAGE - 2, 2 } },
	  .written = PAGE - 1 - 50 - 3000 - 2 },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* Build a table case's buffer (edit form) from snap and its edits. */
static void
apply_edits(uint8_t *d, const uint8_t *snap, size_t len,
	    const struct edit *e)
{
	size_t k, i;

	memcpy(d, snap, len);
	for (k = 0; k < MAXE && e[k].len != 0; k++)
		for (i = e[k].off; i < e[k].off + e[k].len; i++)
			d[i] = snap[i] ^ e[k].x;
}

/* Check one table case on the implementation in use (or the oracle). */
static void
run_case(const struct mcase *mc, const char *impl, int oracle)
{
	static uint8_t bs[PAGE + SLOP] __attribute__((aligned(64)));
	static uint8_t bc[PAGE + SLOP] __attribute__((aligned(64)));
	static uint8_t bp[PAGE + SLOP] __attribute__((aligned(64)));
	static uint8_t bw[PAGE + SLOP] __attribute__((aligned(64)));
	uint8_t *s = bs + mc->align, *c = bc + mc->align;
	uint8_t *p = bp + mc->align, *w = bw + mc->align;
	struct merge_run runs[MAXR + 2];
	size_t cap = mc->cap == NOCAP ? MAXR : mc->cap;
	size_t i, n, nw, nstore, off;

	ck_assert_uint_le(mc->len + mc->align, PAGE + SLOP);
	if (mc->snap != NULL) {
		memcpy(s, mc->snap, mc->len);
		memcpy(c, mc->child, mc->len);
		memcpy(p, mc->parent, mc->len);
		memcpy(w, mc->want, mc->len);
	} else {
		for (i = 0; i < mc->len; i++)
			s[i] = (uint8_t)(i * 131 + 7);
		apply_edits(c, s, mc->len, mc->ce);
		apply_edits(p, s, mc->len, mc->pe);
		apply_edits(w, s, mc->len, mc->we);
	}

	fill_runs(runs, MAXR + 2);
	if (oracle)
		n = merge_conflicts_ref(s, c, p, mc->len,
					cap ? runs : NULL, cap);
	else
		n = merge_conflicts(s, c, p, mc->len, cap ? runs : NULL, cap);
	ck_assert_msg(n == mc->nruns, "%s [%s]: %zu runs, want %zu",
		      mc->name, impl, n, mc->nruns);
	nstore = n < cap ? n : cap;
	for (i = 0; i < MAXR + 2; i++) {
		if (i < nstore) {
			ck_assert_msg(runs[i].off == mc->runs[i].off &&
				      runs[i].len == mc->runs[i].len,
				      "%s [%s]: run %zu is {%zu,%zu}, want "
				      "{%zu,%zu}", mc->name, impl, i,
				      runs[i].off, runs[i].len,
				      mc->runs[i].off, mc->runs[i].len);
		} else {
			ck_assert_msg(runs[i].off == SENT &&
				      runs[i].len == SENT,
				      "%s [%s]: slot %zu written", mc->name,
				      impl, i);
		}
	}

	if (oracle)
		nw = merge_apply_ref(p, s, c, mc->len);
	else
		nw = merge_apply(p, s, c, mc->len);
	ck_assert_msg(nw == mc->written, "%s [%s]: wrote %zu, want %zu",
		      mc->name, impl, nw, mc->written);
	off = first_diff(p, w, mc->len);
	ck_assert_msg(off == mc->len, "%s [%s]: parent differs at %zu",
		      mc->name, impl, off);
	ck_assert_int_eq(merge_equal(p, w, mc->len), 1);
	ck_assert_int_eq(merge_equal(s, c, mc->len),
			 mc->snap ? memcmp(s, c, mc->len) == 0 :
			 mc->ce[0].len == 0);
}

/* Table case _i on the oracle, the portable path and the AVX2 path. */
START_TEST(test_table)
{
	const struct mcase *mc = &cases[_i];
	const char *name;

	run_case(mc, "ref", 1);
	name = pick_impl(0);
	run_case(mc, name, 0);
	name = pick_impl(1);
	if (name != NULL)
		run_case(mc, name, 0);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Intervals: every length 1..100, many alignments                  */
/* ---------------------------------------------------------------- */

/*
 * Child changes [a1,b1) to snap^0x5a, parent changes [a2,b2) to snap^px;
 * expected results follow from the intersection [lo,hi).
 */
static void
check_intervals(size_t len, size_t align, size_t a1, size_t b1,
		size_t a2, size_t b2, uint8_t px, const char *impl)
{
	static uint8_t bs[256], bc[256], bp[256];
	uint8_t *s = bs + align, *c = bc + align, *p = bp + align;
	struct merge_run runs[2];
	size_t i, n, nw, lo, hi, ncf;
	uint8_t want;

	for (i = 0; i < len; i++) {
		s[i] = (uint8_t)(i * 37 + len);
		c[i] = i >= a1 && i < b1 ? s[i] ^ 0x5a : s[i];
		p[i] = i >= a2 && i < b2 ? s[i] ^ px : s[i];
	}
	lo = a1 > a2 ? a1 : a2;
	hi = b1 < b2 ? b1 : b2;
	ncf = lo < hi ? hi - lo : 0;

	fill_runs(runs, 2);
	n = merge_conflicts(s, c, p, len, runs, 2);
	/* plain ifs: a passing ck_assert costs a message to the runner */
	if (n != (ncf != 0) || runs[1].off != SENT ||
	    (ncf != 0 && (runs[0].off != lo || runs[0].len != ncf)) ||
	    (ncf == 0 && runs[0].off != SENT))
		ck_abort_msg("[%s] len %zu align %zu child [%zu,%zu) parent "
			     "[%zu,%zu): %zu runs, first {%zu,%zu}", impl, len,
			     align, a1, b1, a2, b2, n, runs[0].off,
			     runs[0].len);

	nw = merge_apply(p, s, c, len);
	if (nw != (b1 - a1) - ncf)
		ck_abort_msg("[%s] len %zu align %zu child [%zu,%zu) parent "
			     "[%zu,%zu): wrote %zu", impl, len, align, a1, b1,
			     a2, b2, nw);
	for (i = 0; i < len; i++) {
		if (i >= a2 && i < b2)
			want = s[i] ^ px;
		else if (i >= a1 && i < b1)
			want = s[i] ^ 0x5a;
		else
			want = s[i];
		if (p[i] != want)
			ck_abort_msg("[%s] len %zu align %zu child [%zu,%zu) "
				     "parent [%zu,%zu): differs at %zu",
				     impl, len, align, a1, b1, a2, b2, i);
	}
}

/* All pairs of intervals between the 7 cut points, at one alignment. */
static void
intervals_at(size_t len, size_t align, const size_t *cut, const char *impl)
{
	size_t i, j, k, l;

	for (i = 0; i < 7; i++) {
		for (j = i; j < 7; j++) {
			for (k = 0; k < 7; k++) {
				for (l = k; l < 7; l++) {
					if (cut[i] > cut[j] || cut[k] > cut[l])
						continue;
					check_intervals(len, align, cut[i],
							cut[j], cut[k], cut[l],
							(l & 1) ? 0x5a : 0xa5,
							impl);
				}
			}
		}
	}
}

/* Length _i + 1: all interval pairs from a few cut points, 10 aligns. */
START_TEST(test_intervals)
{
	static const size_t aligns[] = { 0, 1, 3, 7, 8, 15, 31, 32, 33, 63 };
	size_t len = (size_t)_i + 1, cut[7], al;
	const char *name;
	int impl;

	cut[0] = 0;
	cut[1] = 1;
	cut[2] = len / 3;
	cut[3] = len / 2;
	cut[4] = len > 33 ? 33 : len;
	cut[5] = len - 1;
	cut[6] = len;
	for (impl = 0; impl < 2; impl++) {
		name = pick_impl(impl);
		if (name == NULL)
			continue;
		for (al = 0; al < sizeof(aligns) / sizeof(aligns[0]); al++)
			intervals_at(len, aligns[al], cut, name);
	}
}
END_TEST

/* ---------------------------------------------------------------- */
/* Seeded random triples against the reference                      */
/* ---------------------------------------------------------------- */

struct rng { uint64_t s; };

/* splitmix64: fast, good enough, and trivially seedable. */
static uint64_t
rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t
rnd_below(struct rng *r, size_t n)
{
	return (size_t)(rnd(r) % n);
}

/* A nonzero XOR byte, biased towards the bit patterns SWAR tricks miss. */
static uint8_t
rnd_x(uint64_t v)
{
	static const uint8_t special[] = { 0x80, 0x01, 0x7f, 0xff };
	uint8_t x = (uint8_t)v;

	if ((v >> 8 & 7) == 0)
		return special[v >> 11 & 3];
	return x ? x : 0x80;
}

/* Fill snap: random bytes or a constant byte. */
static void
gen_snap(struct rng *r, uint8_t *s, size_t len)
{
	static const uint8_t fills[] = { 0x00, 0xff, 0x80, 0x7f };
	uint64_t v = 0;
	size_t i;

	if (rnd_below(r, 8) == 0) {
		memset(s, fills[rnd_below(r, 4)], len);
		return;
	}
	for (i = 0; i < len; i++) {
		if ((i & 7) == 0)
			v = rnd(r);
		s[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* d = s with some bytes changed: none, per-byte density, or spans. */
static void
gen_side(struct rng *r, const uint8_t *s, uint8_t *d, size_t len)
{
	static const unsigned dens[] = { 1, 4, 32, 128, 224, 256 };
	size_t i, k, nb, off, l;
	uint64_t v = 0, x = 0;
	unsigned mode = (unsigned)rnd_below(r, 10), t;

	memcpy(d, s, len);
	if (mode == 0)
		return;
	if (mode <= 6) {
		t = dens[mode - 1];
		for (i = 0; i < len; i++) {
			if ((i & 7) == 0) {
				v = rnd(r);
				x = rnd(r);
			}
			if ((v & 0xff) < t)
				d[i] = s[i] ^ rnd_x(x);
			v >>= 8;
			x = x >> 8 | x << 56;
		}
		return;
	}
	nb = 1 + rnd_below(r, mode == 9 ? 16 : 3);
	for (k = 0; k < nb; k++) {
		off = rnd_below(r, len);
		l = 1 + rnd_below(r, (size_t)1 << rnd_below(r, 13));
		if (l > len - off)
			l = len - off;
		x = rnd(r);
		for (i = off; i < off + l; i++)
			d[i] = s[i] ^ rnd_x(x + i);
	}
}

/* Where both sides changed, sometimes give the parent the child's value. */
static void
gen_same(struct rng *r, const uint8_t *s, const uint8_t *c, uint8_t *p,
	 size_t len)
{
	unsigned mode = (unsigned)rnd_below(r, 4);
	size_t i;

	if (mode < 2)
		return;
	for (i = 0; i < len; i++)
		if (c[i] != s[i] && p[i] != s[i] &&
		    (mode == 3 || (rnd(r) & 1)))
			p[i] = c[i];
}

#define GUARD 0xa7	/* fill around the parent, must survive */
#define MAXCAP 40

/* Scratch for one random case; the buffers' tails end at the arrays'. */
struct rcase {
	uint8_t s[PAGE + SLOP], c[PAGE + SLOP];
	uint8_t p[PAGE + SLOP], q[PAGE + SLOP];
	struct merge_run ra[MAXCAP], rr[MAXCAP];
};

/* Place len bytes in buf[PAGE+SLOP]: at the end or at a random offset. */
static uint8_t *
place(struct rng *r, uint8_t *buf, size_t len, int page)
{
	size_t room = PAGE + SLOP - len;

	if (page && rnd_below(r, 2) == 0)
		return buf + 64;	/* 64-aligned: a real page */
	if (rnd_below(r, 3) == 0)
		return buf + room;	/* ends at the array's end */
	return buf + 64 + rnd_below(r, room - 64 + 1);
}

/*
 * Generate case idx of length len and compare merge_conflicts, merge_apply
 * and merge_equal with the reference.  Fails with seed, index and offset.
 */
static void
one_random(struct rng *r, struct rcase *rc, size_t idx, size_t len,
	   int page, const char *impl)
{
	uint8_t *s = place(r, rc->s, len, page);
	uint8_t *c = place(r, rc->c, len, page);
	uint8_t *p, *q;
	size_t cap, n1, n2, w1, w2, off, i, poff, tail;

	poff = (size_t)(place(r, rc->p, len, page) - rc->p);
	p = rc->p + poff;
	q = rc->q + poff;
	/* guard bytes just around the parent */
	for (i = poff >= 64 ? poff - 64 : 0; i < poff; i++)
		rc->p[i] = GUARD;
	tail = PAGE + SLOP - poff - len;
	tail = tail < 64 ? tail : 64;
	memset(p + len, GUARD, tail);

	gen_snap(r, s, len);
	gen_side(r, s, c, len);
	gen_side(r, s, p, len);
	gen_same(r, s, c, p, len);
	memcpy(q, p, len);

	switch (rnd_below(r, 4)) {
	case 0:
		cap = 0;
		break;
	case 1:
		cap = 1 + rnd_below(r, 3);
		break;
	default:
		cap = MAXCAP;
		break;
	}
	fill_runs(rc->ra, MAXCAP);
	fill_runs(rc->rr, MAXCAP);
	n1 = merge_conflicts(s, c, p, len, cap ? rc->ra : NULL, cap);
	n2 = merge_conflicts_ref(s, c, p, len, cap ? rc->rr : NULL, cap);
	if (n1 != n2)
		ck_abort_msg("seed %llu [%s] case %zu len %zu: %zu runs, "
			     "ref %zu", test_seed, impl, idx, len, n1, n2);
	for (i = 0; i < MAXCAP; i++) {
		if (rc->ra[i].off != rc->rr[i].off ||
		    rc->ra[i].len != rc->rr[i].len)
			ck_abort_msg("seed %llu [%s] case %zu len %zu: run "
				     "%zu {%zu,%zu}, ref {%zu,%zu} (at "
				     "offset %zu)", test_seed, impl, idx,
				     len, i, rc->ra[i].off, rc->ra[i].len,
				     rc->rr[i].off, rc->rr[i].len,
				     rc->ra[i].off < rc->rr[i].off ?
				     rc->ra[i].off : rc->rr[i].off);
	}
	off = first_diff(p, q, len);
	if (off != len)
		ck_abort_msg("seed %llu [%s] case %zu len %zu: "
			     "merge_conflicts changed parent at offset %zu",
			     test_seed, impl, idx, len, off);

	w1 = merge_apply(p, s, c, len);
	w2 = merge_apply_ref(q, s, c, len);
	off = first_diff(p, q, len);
	if (w1 != w2 || off != len)
		ck_abort_msg("seed %llu [%s] case %zu len %zu: wrote %zu, "
			     "ref %zu; first differing offset %zu",
			     test_seed, impl, idx, len, w1, w2, off);
	for (i = poff >= 64 ? poff - 64 : 0; i < poff; i++)
		if (rc->p[i] != GUARD)
			ck_abort_msg("seed %llu [%s] case %zu len %zu: wrote "
				     "before parent (offset -%zu)", test_seed,
				     impl, idx, len, poff - i);
	for (i = poff + len; i < poff + len + tail; i++)
		if (rc->p[i] != GUARD)
			ck_abort_msg("seed %llu [%s] case %zu len %zu: wrote "
				     "past parent (offset %zu)", test_seed,
				     impl, idx, len, i - poff);

	if (merge_equal(s, c, len) != (memcmp(s, c, len) == 0) ||
	    merge_equal(p, q, len) != 1)
		ck_abort_msg("seed %llu [%s] case %zu len %zu: merge_equal",
			     test_seed, impl, idx, len);
}

static int
sanitized(void)
{
	const char *e = getenv("DET_SANITIZE");

	return e != NULL && *e != '\0' && strcmp(e, "0") != 0;
}

/* Run count random cases (page: 4096 bytes, else 1..256) on impl _i. */
static void
random_cases(int impl, size_t count, int page)
{
	struct rcase *rc = malloc(sizeof(*rc));
	struct rng r = { test_seed * 4 + (uint64_t)impl * 2 + (page != 0) };
	const char *name = pick_impl(impl);
	size_t idx, len;

	ck_assert_ptr_nonnull(rc);
	if (name == NULL) {
		free(rc);
		return;
	}
	for (idx = 0; idx < count; idx++) {
		len = page ? PAGE : 1 + rnd_below(&r, 256);
		one_random(&r, rc, idx, len, page, name);
	}
	free(rc);
}

#define NSHORT 1000000	/* per implementation */
#define NPAGES 10000	/* per implementation */

START_TEST(test_random_short)
{
	random_cases(_i, sanitized() ? NSHORT / 2 : NSHORT, 0);
}
END_TEST

START_TEST(test_random_pages)
{
	random_cases(_i, sanitized() ? NPAGES / 2 : NPAGES, 1);
}
END_TEST

/* merge_equal on every length 0..300 with one differing byte moved. */
START_TEST(test_equal)
{
	static uint8_t a[400], b[400];
	size_t len, i, k;

	for (i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (uint8_t)(i * 7);
	ck_assert_int_eq(merge_equal(NULL, NULL, 0), 1);
	for (len = 0; len <= 300; len++) {
		for (k = 0; k < 4; k++)
			ck_assert_int_eq(merge_equal(a + k, b + k, len), 1);
		for (i = 0; i < len; i++) {
			b[i + 3] ^= 0x80;
			if (merge_equal(a + 3, b + 3, len) != 0)
				ck_abort_msg("len %zu diff at %zu: equal",
					     len, i);
			b[i + 3] ^= 0x80;
		}
	}
}
END_TEST

/* merge_impl reports and switches the implementation. */
START_TEST(test_impl)
{
	const char *n;

	ck_assert_str_eq(merge_impl(1), "scalar");
	n = merge_impl(0);
	ck_assert(strcmp(n, "avx2") == 0 || strcmp(n, "scalar") == 0);
	ck_assert_str_eq(merge_impl(0), n);
	ck_assert_str_eq(merge_impl(1), "scalar");
	ck_assert_str_eq(merge_impl(0), n);
}
END_TEST

static Suite *
merge_suite(void)
{
	Suite *s = suite_create("merge");
	TCase *tc;

	tc = tcase_create("table");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_impl);
	tcase_add_test(tc, test_equal);
	tcase_add_loop_test(tc, test_table, 0, (int)NCASES);
	tcase_add_loop_test(tc, test_intervals, 0, 100);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_random_short, 0, 2);
	tcase_add_loop_test(tc, test_random_pages, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	const char *e = getenv("DET_TEST_SEED");
	SRunner *sr;
	int failed;

	if (e != NULL && *e != '\0')
		test_seed = strtoull(e, NULL, 0);
	else
		test_seed = (unsigned long long)time(NULL);
	printf("check_merge: DET_TEST_SEED=%llu\n", test_seed);
	fflush(stdout);

	sr = srunner_create(merge_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
