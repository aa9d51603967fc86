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
 * drivers (nested det_fork or pthread_create) differ.
 */
#ifndef QSORT_KERNEL_H
#define QSORT_KERNEL_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QS_MAX_WORKERS	256		/* det's DET_MAX_CHILDREN */
#define QS_SIZE_DEF	16000000	/* default -s: 16 million integers */
#define QS_SIZE_MAX	((size_t)1 << 31)
#define QS_MIN_SPLIT	4096	/* smaller ranges are not split further */
#define QS_SMALL	24	/* insertion sort below this */
#define QS_BIG		65536	/* pivot from QS_SAMPLES samples from here */
#define QS_SAMPLES	127

/* The parsed command line. */
struct qs_opts {
	unsigned workers;	/* -t */
	int seq;		/* --seq */
	int verify;		/* --verify */
	size_t n;		/* -s: integers to sort */
};

/* The fixed input: n xorshift64* values (psort's generator, seed 1). */
static void
qs_fill(uint32_t *a, size_t n)
{
	uint64_t x = 0x9e3779b97f4a7c15ull | 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		a[i] = (uint32_t)((x * 2685821657736338717ull) >> 32);
	}
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

/* FNV-1a (64-bit) of the array's bytes. */
static uint64_t
qs_checksum(const uint32_t *a, size_t n)
{
	const unsigned char *p = (const unsigned char *)a;
	uint64_t h = 14695981039346656037ull;
	size_t i;

	for (i = 0; i < n * sizeof(*a); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
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

/* The --help text. */
static void
qs_usage(FILE *f, const char *prog)
{
	fprintf(f, "usage: %s [-t N] [--seq] [-s SIZE] [--verify]\n"
		"Quicksort SIZE (default %d) pseudo-random 32-bit integers "
		"with N workers\n(default 2) in a tree of 2^ceil(log2 N) "
		"leaves; --seq: no workers.\n", prog, QS_SIZE_DEF);
}

/* Parse the command line into o; 0, or the exit status to return. */
static int
qs_parse(int argc, char **argv, const char *prog, struct qs_opts *o)
{
	static const struct option opts[] = {
		{ "seq", no_argument, NULL, 'S' },
		{ "verify", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v;
	char *end;
	int c;

	*o = (struct qs_opts){ 2, 0, 0, QS_SIZE_DEF };
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			v = strtoull(optarg, &end, 10);
			if (*end || *optarg < '0' || *optarg > '9' ||
			    v == 0 || v > QS_MAX_WORKERS) {
				fprintf(stderr, "%s: -t %s: expected 1..%d\n",
					prog, optarg, QS_MAX_WORKERS);
				return 2;
			}
			o->workers = (unsigned)v;
			break;
		case 's':
			v = strtoull(optarg, &end, 10);
			if (*end || *optarg < '0' || *optarg > '9' ||
			    v == 0 || v > QS_SIZE_MAX) {
				fprintf(stderr, "%s: -s %s: expected 1..%zu "
					"(integers)\n", prog, optarg,
					QS_SIZE_MAX);
				return 2;
			}
			o->n = (size_t)v;
			break;
		case 'S':
			o->seq = 1;
			break;
		case 'V':
			o->verify = 1;
			break;
		case 'h':
			qs_usage(stdout, prog);
			exit(0);
		case ':':
			fprintf(stderr, "%s: %s needs an argument\n", prog,
				argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "%s: bad option %s (try --help)\n",
				prog, argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog,
			argv[optind]);
		return 2;
	}
	return 0;
}

/* Print the result line. */
static void
qs_report(const uint32_t *a, size_t n)
{
	printf("qsort: n=%zu checksum %016llx\n", n,
	       (unsigned long long)qs_checksum(a, n));
}

#endif /* QSORT_KERNEL_H */
