/*
 * qsort_kernel.h -- the kernel shared by qsort.c (det) and
 * qsort_pthread.c.
 *
 * Recursive parallel quicksort, after Determinator's qsort benchmark:
 * SIZE 32-bit integers from a fixed xorshift seed are partitioned at
 * the top (Hoare, pivot the median of 127 samples), then the two
 * halves -- disjoint ranges of the array -- are sorted in parallel,
 * each by partitioning again and handing its halves to two new workers,
 * down to qs_levels(N) levels: 2^levels >= N leaves, which sort their
 * range sequentially with the same quicksort.  The sorted array is
 * unique, so its checksum (FNV-1a of its bytes) does not depend on the
 * tree's shape: --seq, any -t and both programs print the same line.
 *
 * Everything here is static: each program includes it once.  Only the
 * drivers (nested det_fork or pthread_create) that they hand qs_main
 * differ.
 */
#ifndef QSORT_KERNEL_H
#define QSORT_KERNEL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_common.h"

#define QS_SIZE_DEF	16000000	/* default -s: 16 million integers */
#define QS_SIZE_MAX	(1ul << 31)
#define QS_MIN_SPLIT	4096	/* smaller ranges are not split further */
#define QS_SMALL	24	/* insertion sort below this */
#define QS_BIG		65536	/* pivot from QS_SAMPLES samples from here */
#define QS_SAMPLES	127

/* The fixed input: n xorshift64* values (psort's generator, seed 1). */
static void
qs_fill(uint32_t *a, size_t n)
{
	uint64_t x = app_seed(1);
	size_t i;

	for (i = 0; i < n; i++)
		a[i] = (uint32_t)(app_rand(&x) >> 32);
}

static void
qs_insertion(uint32_t *a, size_t n)
{
	size_t i, j;

	for (i = 1; i < n; i++) {
		uint32_t v = a[i];

		for (j = i; j > 0 && a[j - 1] > v; j--)
			a[j] = a[j - 1];
		a[j] = v;
	}
}

static inline uint32_t
qs_median3(uint32_t a, uint32_t b, uint32_t c)
{
	if (a < b)
		return b < c ? b : (a < c ? c : a);
	return a < c ? a : (b < c ? c : b);
}

/*
 * Pivot value: the median of 3 samples for small ranges, of
 * QS_SAMPLES spread evenly (a[0] and a[n - 1] included) for large ones,
 * so that the parallel splits at the top are close to even.
 */
static inline uint32_t
qs_pivot(const uint32_t *a, size_t n)
{
	uint32_t s[QS_SAMPLES];
	size_t i;

	if (n < QS_BIG)
		return qs_median3(a[0], a[n / 2], a[n - 1]);
	for (i = 0; i < QS_SAMPLES; i++)
		s[i] = a[(n - 1) / (QS_SAMPLES - 1) * i +
			 (n - 1) % (QS_SAMPLES - 1) * i / (QS_SAMPLES - 1)];
	qs_insertion(s, QS_SAMPLES);
	return s[QS_SAMPLES / 2];
}

/*
 * Hoare partition of a[0, n), n > QS_SMALL: returns k, 0 < k < n, with
 * every a[0, k) <= every a[k, n).  The pivot is the median of 3 or
 * more samples at distinct places, so neither scan runs off the ends
 * and neither side is empty.
 */
static size_t
qs_partition(uint32_t *a, size_t n)
{
	uint32_t p = qs_pivot(a, n), t;
	size_t i = 0, j = n - 1;

	for (;;) {
		while (a[i] < p)
			i++;
		while (a[j] > p)
			j--;
		if (i >= j)
			return j + 1;
		t = a[i];
		a[i++] = a[j];
		a[j--] = t;
	}
}

/* Sequential quicksort without allocation: recurse on the smaller side. */
static void
qs_sort(uint32_t *a, size_t n)
{
	size_t k;

	while (n > QS_SMALL) {
		k = qs_partition(a, n);
		if (k < n - k) {
			qs_sort(a, k);
			a += k;
			n -= k;
		} else {
			qs_sort(a + k, n - k);
			n = k;
		}
	}
	qs_insertion(a, n);
}

/* Levels of parallel splitting for w workers: ceil(log2(w)). */
static unsigned
qs_levels(unsigned w)
{
	unsigned l = 0;

	while ((1u << l) < w)
		l++;
	return l;
}

/* Is a range at this depth sorted sequentially rather than split? */
static int
qs_is_leaf(size_t n, unsigned depth)
{
	return depth == 0 || n < QS_MIN_SPLIT;
}

/* Order-independent fingerprint of the multiset of values (--verify). */
static uint64_t
qs_fingerprint(const uint32_t *a, size_t n)
{
	uint64_t s = 0, z;
	size_t i;

	for (i = 0; i < n; i++) {
		z = a[i] + 0x9e3779b97f4a7c15ull;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		s += z ^ (z >> 31);
	}
	return s;
}

/* --verify: sorted, and the same values as before; 0, or 1 with a line. */
static int
qs_verify(const uint32_t *a, size_t n, uint64_t fp_before)
{
	size_t i;

	for (i = 1; i < n; i++) {
		if (a[i - 1] > a[i]) {
			fprintf(stderr, "qsort: verify: not sorted at %zu "
				"(%u > %u)\n", i, a[i - 1], a[i]);
			return 1;
		}
	}
	if (qs_fingerprint(a, n) != fp_before) {
		fprintf(stderr, "qsort: verify: the values changed "
			"(not a permutation of the input)\n");
		return 1;
	}
	return 0;
}

/* The --help text after the usage line. */
static void
qs_describe(void)
{
	printf("Quicksort SIZE (default %d) pseudo-random 32-bit integers "
	       "with N workers\n(default 2) in a tree of 2^ceil(log2 N) "
	       "leaves; --seq: no workers.\n", QS_SIZE_DEF);
}

/* The command line: -s in integers. */
static const struct app_spec qs_spec = {
	QS_SIZE_DEF, 1, QS_SIZE_MAX, 1, 0, "integers", NULL, qs_describe,
};

/* Print the result line. */
static void
qs_report(const uint32_t *a, size_t n)
{
	printf("qsort: n=%zu checksum %016llx\n", n, (unsigned long long)
	       app_fnv(APP_FNV_BASIS, a, n * sizeof(*a)));
}

/*
 * The program: the sort in this thread (--seq) or by sort(a, n,
 * workers), which returns 0 or nonzero after a failure (printed, exit
 * status 3); the exit status.
 */
static int
qs_main(int argc, char **argv,
	int (*sort)(uint32_t *a, size_t n, unsigned workers))
{
	struct app_opts o;
	uint64_t fp = 0;
	uint32_t *a;
	size_t n;
	int rc;

	rc = app_parse(argc, argv, &qs_spec, &o);
	if (rc != 0)
		return rc;
	n = o.size;
	a = malloc(n * sizeof(*a));
	if (!a) {
		app_err("out of memory for %zu integers\n", n);
		return 1;
	}
	qs_fill(a, n);
	if (o.verify)
		fp = qs_fingerprint(a, n);
	if (o.seq)
		qs_sort(a, n);
	else
		rc = sort(a, n, o.workers);
	if (rc != 0) {
		free(a);
		return 3;
	}
	if (o.verify && qs_verify(a, n, fp) != 0) {
		free(a);
		return 1;
	}
	qs_report(a, n);
	free(a);
	return 0;
}

#endif /* QSORT_KERNEL_H */
