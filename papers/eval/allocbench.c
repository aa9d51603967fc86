/*
 * allocbench.c -- a malloc-heavy workload, run by papers/eval/bench.sh
 * (make bench) against glibc malloc, jemalloc (LD_PRELOAD) and the det
 * allocator (linked with libdet.a, built with -DWITH_DET).
 *
 *   allocbench one LABEL OPS SLOTS
 *       OPS operations in one space over a table of SLOTS slots
 *   allocbench split LABEL NCHILD OPS SLOTS      (-DWITH_DET only)
 *       the same split over NCHILD det children, each doing OPS/NCHILD
 *       operations on its own SLOTS/NCHILD slots; the parent forks them
 *       all, then joins them in order
 *
 * One operation: pick a slot at random, free its block (if any, after
 * reading its first and last byte into a checksum), malloc a new one
 * and write its first and last byte.  Sizes are 16 B .. 64 KiB, skewed
 * small: 7 in 8 from 16 .. 512 B, 1 in 8 from 513 B .. 64 KiB, the
 * power of two drawn uniformly and the size uniformly within it (mean
 * about 1.8 KiB).  Everything is drawn from a fixed seed, so every
 * allocator sees the same calls and computes the same checksum.
 *
 * stdout, one line each ("S" = one sample; bench.sh takes medians):
 *
 *   S NAME VALUE UNIT     NAME = alloc.LABEL.{sec,mops,rss,...}
 *   I NAME VALUE          checksum; with det also a hash of the
 *                         addresses malloc returned (deterministic)
 *   F NAME details        a failure
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifdef WITH_DET
#include "det.h"
#endif

#define MAX_SLOTS	(1 << 22)
#define MAX_CHILD	64
#define SEED		0x5eed0a11c0ffee11ULL

/* The slot table: a block and its size.  In split mode child i owns
 * slots [i * SLOTS/NCHILD, (i + 1) * SLOTS/NCHILD). */
static uint8_t *slot[MAX_SLOTS];
static uint32_t slen[MAX_SLOTS];

/* One run's share: set before forking, results written by its runner
 * (a det child in split mode: merged at join). */
struct share {
	uint64_t seed;
	long ops;
	long lo, n;		/* its slots */
	uint64_t t0, t1;	/* CLOCK_MONOTONIC at start and end, ns */
	uint64_t cpu_ns;	/* its CPU time */
	uint64_t csum;		/* checksum of the bytes read back */
	uint64_t ahash;		/* hash of the addresses */
	int failed;		/* malloc returned NULL */
};

static struct share sh[MAX_CHILD];

/* A clock in ns. */
static uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: the next pseudo-random number of state *s. */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A block size from random bits r (see the top comment). */
static size_t
draw_size(uint64_t r)
{
	unsigned k;
	size_t hi, lo;

	if (r & 7)
		k = (unsigned)((r >> 3) % 6);		/* 16 .. 512 B */
	else
		k = 6 + (unsigned)((r >> 3) % 7);	/* 1 .. 64 KiB */
	hi = (size_t)16 << k;
	lo = hi / 2 < 16 ? 16 : hi / 2;
	return lo + (size_t)((r >> 16) % (hi - lo + 1));
}

/* The workload of share s: s->ops operations on its slots. */
static void
work(struct share *s)
{
	uint64_t st = s->seed, r, csum = 0, ah = 0;
	uint8_t *p;
	long i, k;
	size_t n;

	s->t0 = clock_ns(CLOCK_MONOTONIC);
	s->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	for (i = 0; i < s->ops; i++) {
		r = rnd(&st);
		k = s->lo + (long)((r >> 40) % (uint64_t)s->n);
		p = slot[k];
		if (p) {
			csum = csum * 31 + p[0] +
			       ((uint64_t)p[slen[k] - 1] << 8);
			free(p);
		}
		n = draw_size(r);
		p = malloc(n);
		if (!p) {
			s->failed = 1;
			break;
		}
		p[0] = (uint8_t)i;
		p[n - 1] = (uint8_t)(i >> 8) ^ 0x5a;
		slot[k] = p;
		slen[k] = (uint32_t)n;
		ah = (ah ^ (uintptr_t)p) * 0x100000001b3ULL;
	}
	s->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - s->cpu_ns;
	s->t1 = clock_ns(CLOCK_MONOTONIC);
	s->csum = csum;
	s->ahash = ah;
}

/* Peak RSS of this process so far, KiB. */
static long
peak_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* Print the facts common to both modes. */
static void
print_facts(const char *label, uint64_t csum, uint64_t ahash)
{
	printf("I alloc.%s.check %016llx\n", label, (unsigned long long)csum);
#ifdef WITH_DET
	printf("I alloc.%s.addrs %016llx\n", label, (unsigned long long)ahash);
#else
	(void)ahash;
#endif
}

/* allocbench one: the whole workload in this space. */
static int
cmd_one(const char *label, long ops, long slots)
{
	struct share *s = &sh[0];
	double sec;

	s->seed = SEED;
	s->ops = ops;
	s->lo = 0;
	s->n = slots;
	work(s);
	if (s->failed) {
		printf("F alloc.%s malloc returned NULL\n", label);
		return 1;
	}
	sec = (double)(s->t1 - s->t0) / 1e9;
	printf("S alloc.%s.sec %.4f s\n", label, sec);
	printf("S alloc.%s.mops %.4f Mops/s\n", label, (double)ops / sec / 1e6);
	printf("S alloc.%s.rss %ld KiB\n", label, peak_rss_kib());
	print_facts(label, s->csum, s->ahash);
	return 0;
}

#ifdef WITH_DET
/* A det child: run its share. */
static void
child_run(void *arg)
{
	work(arg);
}

/*
 * allocbench split: fork nchild children, each with its share, then
 * join them in order.  A join's cost is from when both the parent has
 * called det_join and the child has finished its loop, to the join's
 * return (det_join's whole duration also includes waiting).
 */
static int
cmd_split(const char *label, unsigned nchild, long ops, long slots)
{
	struct det_status st;
	uint64_t t0, tf = 0, tjoin = 0, tcost = 0, tw, tc, te, tr;
	uint64_t csum = 0, ah = 0, run = 0, cpu = 0, merged = 0;
	unsigned i;
	int rc;

	for (i = 0; i < nchild; i++) {
		sh[i].seed = SEED + i;
		sh[i].ops = ops / nchild;
		sh[i].lo = slots / nchild * i;
		sh[i].n = slots / nchild;
	}
	t0 = clock_ns(CLOCK_MONOTONIC);
	for (i = 0; i < nchild; i++) {
		rc = det_fork(i, child_run, &sh[i]);
		if (rc != DET_OK) {
			printf("F alloc.%s det_fork(%u) rc=%d\n", label, i, rc);
			return 1;
		}
	}
	tf = clock_ns(CLOCK_MONOTONIC) - t0;
	for (i = 0; i < nchild; i++) {
		tc = clock_ns(CLOCK_MONOTONIC);
		rc = det_join(i, &st);
		tr = clock_ns(CLOCK_MONOTONIC);
		if (rc != DET_OK) {
			printf("F alloc.%s det_join(%u) rc=%d signal=%d "
			       "nconflicts=%zu\n", label, i, rc, st.signal,
			       st.nconflicts);
			return 1;
		}
		if (sh[i].failed) {
			printf("F alloc.%s child %u: malloc returned NULL\n",
			       label, i);
			return 1;
		}
		te = sh[i].t1 > tc ? sh[i].t1 : tc;
		tjoin += tr - tc;
		tcost += tr > te ? tr - te : 0;
		run += sh[i].t1 - sh[i].t0;
		cpu += sh[i].cpu_ns;
		merged += st.bytes_merged;
		csum = csum * 1000003 + sh[i].csum;
		ah = ah * 1000003 + sh[i].ahash;
	}
	tw = clock_ns(CLOCK_MONOTONIC) - t0;
	printf("S alloc.%s.sec %.4f s\n", label, (double)tw / 1e9);
	printf("S alloc.%s.fork %.3f ms\n", label, (double)tf / 1e6);
	printf("S alloc.%s.join %.3f ms\n", label, (double)tjoin / 1e6);
	printf("S alloc.%s.joincost %.3f ms\n", label, (double)tcost / 1e6);
	printf("S alloc.%s.joinper %.3f ms\n", label,
	       (double)tcost / nchild / 1e6);
	printf("S alloc.%s.child %.4f s\n", label, (double)run / nchild / 1e9);
	printf("S alloc.%s.childcpu %.4f s\n", label,
	       (double)cpu / nchild / 1e9);
	printf("S alloc.%s.joinpct %.3f %%\n", label,
	       100.0 * (double)tcost / (double)run);
	printf("S alloc.%s.rss %ld KiB\n", label, peak_rss_kib());
	printf("S alloc.%s.mb_merged %.1f MB\n", label,
	       (double)merged / 1e6);
	print_facts(label, csum, ah);
	return 0;
}
#endif

/* Say how to call us. */
static int
usage(void)
{
	fprintf(stderr, "usage: allocbench one LABEL OPS SLOTS\n"
#ifdef WITH_DET
		"       allocbench split LABEL NCHILD OPS SLOTS\n"
#endif
		);
	return 2;
}

int
main(int argc, char **argv)
{
	long ops, slots;
	int rc = 2;

	if (argc == 5 && !strcmp(argv[1], "one")) {
		ops = atol(argv[3]);
		slots = atol(argv[4]);
		if (ops < 1 || slots < 1 || slots > MAX_SLOTS)
			return usage();
		rc = cmd_one(argv[2], ops, slots);
#ifdef WITH_DET
	} else if (argc == 6 && !strcmp(argv[1], "split")) {
		unsigned n = (unsigned)atoi(argv[3]);

		ops = atol(argv[4]);
		slots = atol(argv[5]);
		if (n < 1 || n > MAX_CHILD || ops < n || slots < n ||
		    slots > MAX_SLOTS)
			return usage();
		rc = cmd_split(argv[2], n, ops, slots);
#endif
	} else {
		return usage();
	}
	fflush(stdout);
	return rc;
}
