/*
 * psort -- deterministic parallel sort of N pseudo-random integers.
 *
 *   psort [-n N] [-k CHILDREN] [-s SEED] [--seq] [--racy]
 *
 * Children sort disjoint slices in place, then merge pairs of sorted
 * runs in rounds (each merge a child), writing between two buffers that
 * the parent allocated before forking.  No child allocates, so no child
 * touches the allocator's state.  --seq sorts the same data in one
 * space; the output (checksum) must be identical.  --racy also has every
 * child bump a shared counter: det reports the write/write conflict and
 * psort exits with status 3.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "det.h"

struct job {
	uint32_t *src;
	uint32_t *dst;
	size_t lo;
	size_t mid;
	size_t hi;
};

static long comparisons;	/* written by every child in --racy mode */
static int racy;

static void
insertion_sort(uint32_t *a, size_t n)
{
	size_t i, j;

	for (i = 1; i < n; i++) {
		uint32_t v = a[i];

		for (j = i; j > 0 && a[j - 1] > v; j--)
			a[j] = a[j - 1];
		a[j] = v;
	}
}

static uint32_t
median3(uint32_t a, uint32_t b, uint32_t c)
{
	if (a < b)
		return b < c ? b : (a < c ? c : a);
	return a < c ? a : (b < c ? c : b);
}

/* Quicksort without allocation: recurse on the smaller side only. */
static void
quick_sort(uint32_t *a, size_t n)
{
	while (n > 24) {
		uint32_t p = median3(a[0], a[n / 2], a[n - 1]);
		size_t i = 0, j = n - 1;

		for (;;) {
			while (a[i] < p)
				i++;
			while (a[j] > p)
				j--;
			if (i >= j)
				break;
			uint32_t t = a[i];

			a[i++] = a[j];
			a[j--] = t;
		}
		if (j + 1 < n - j - 1) {
			quick_sort(a, j + 1);
			a += j + 1;
			n -= j + 1;
		} else {
			quick_sort(a + j + 1, n - j - 1);
			n = j + 1;
		}
	}
	insertion_sort(a, n);
}

static void
sort_child(void *p)
{
	struct job *j = p;

	quick_sort(j->src + j->lo, j->hi - j->lo);
	if (racy)
		comparisons += (long)(j->hi - j->lo);
}

/* Merge sorted src[lo, mid) and src[mid, hi) into dst[lo, hi). */
static void
merge_child(void *p)
{
	struct job *j = p;
	size_t a = j->lo, b = j->mid, o = j->lo;

	while (a < j->mid && b < j->hi)
		j->dst[o++] = j->src[a] <= j->src[b] ? j->src[a++]
						     : j->src[b++];
	while (a < j->mid)
		j->dst[o++] = j->src[a++];
	while (b < j->hi)
		j->dst[o++] = j->src[b++];
}

/* Fork fn for each job, join all in order; 0 or the first error. */
static int
run_jobs(struct job *jobs, unsigned n, det_fn fn)
{
	struct det_status st;
	unsigned i;
	int rc = 0, r;

	for (i = 0; i < n; i++) {
		r = det_fork(i, fn, &jobs[i]);
		if (r != DET_OK) {
			fprintf(stderr, "psort: det_fork %u: error %d\n", i, r);
			return r;
		}
	}
	for (i = 0; i < n; i++) {
		r = det_join(i, &st);
		if (r != DET_OK && rc == 0)
			rc = r;
	}
	return rc;
}

/* Sort a[0, n) with k children; the result ends in a.  0 or an error. */
static int
parallel_sort(uint32_t *a, uint32_t *tmp, size_t n, unsigned k)
{
	struct job jobs[DET_MAX_CHILDREN];
	size_t bounds[DET_MAX_CHILDREN + 1];
	unsigned i, runs = k;
	uint32_t *src = a, *dst = tmp;
	int rc;

	for (i = 0; i <= k; i++)
		bounds[i] = n * i / k;
	for (i = 0; i < k; i++)
		jobs[i] = (struct job){ a, a, bounds[i], 0, bounds[i + 1] };
	rc = run_jobs(jobs, k, sort_child);
	while (rc == 0 && runs > 1) {
		unsigned m = 0;

		for (i = 0; i + 1 < runs; i += 2, m++) {
			jobs[m] = (struct job){ src, dst, bounds[i],
						bounds[i + 1], bounds[i + 2] };
			bounds[m] = bounds[i];
		}
		if (runs % 2) {		/* the odd run out is copied */
			jobs[m] = (struct job){ src, dst, bounds[runs - 1],
						bounds[runs], bounds[runs] };
			bounds[m++] = bounds[runs - 1];
		}
		bounds[m] = n;
		rc = run_jobs(jobs, m, merge_child);
		runs = m;
		src = dst;
		dst = dst == a ? tmp : a;
	}
	if (rc == 0 && src != a)
		memcpy(a, src, n * sizeof(*a));
	return rc;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: psort [-n N] [-k CHILDREN] [-s SEED] [--seq] "
		"[--racy]\n"
		"Sort N (default 10000000) pseudo-random integers with "
		"CHILDREN (default 4)\nchildren; print a checksum of the "
		"sorted array.\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seq", no_argument, NULL, 'S' },
		{ "racy", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	size_t n = 10000000, i;
	unsigned long k = 4;
	uint64_t seed = 1, x, sum = 1469598103934665603ull;
	int seq = 0, c, rc = 0;
	uint32_t *a, *tmp;
	char *end;

	while ((c = getopt_long(argc, argv, "n:k:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			n = strtoul(optarg, &end, 10);
			if (*end || n == 0) {
				fprintf(stderr, "psort: -n %s: not a positive "
					"count\n", optarg);
				return 2;
			}
			break;
		case 'k':
			k = strtoul(optarg, &end, 10);
			if (*end || k == 0 || k > DET_MAX_CHILDREN) {
				fprintf(stderr, "psort: -k %s: expected "
					"1..%d\n", optarg, DET_MAX_CHILDREN);
				return 2;
			}
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		case 'S':
			seq = 1;
			break;
		case 'r':
			racy = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	a = malloc(n * sizeof(*a));
	tmp = malloc(n * sizeof(*tmp));
	if (!a || !tmp) {
		fprintf(stderr, "psort: out of memory for %zu integers\n", n);
		return 1;
	}
	for (i = 0, x = seed * 0x9e3779b97f4a7c15ull | 1; i < n; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		a[i] = (uint32_t)((x * 2685821657736338717ull) >> 32);
	}
	if (seq)
		quick_sort(a, n);
	else
		rc = parallel_sort(a, tmp, n, (unsigned)k);
	if (rc != 0) {
		fprintf(stderr, "psort: a join failed (det error %d)%s\n", rc,
			rc == DET_ECONFLICT ? ": write/write conflict" : "");
		free(tmp);
		free(a);
		return 3;
	}
	for (i = 0; i < n; i++) {
		if (i && a[i - 1] > a[i]) {
			fprintf(stderr, "psort: NOT sorted at %zu\n", i);
			return 1;
		}
		sum = (sum ^ a[i]) * 1099511628211ull;
	}
	printf("psort: %zu integers sorted, checksum %016llx\n", n,
	       (unsigned long long)sum);
	free(tmp);
	free(a);
	return 0;
}
