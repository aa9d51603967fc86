/*
 * matmult_kernel.h -- the kernel shared by matmult (det) and
 * matmult_pthread: C = A x B for n x n doubles, cache-blocked.
 *
 * Every element of C is summed over k in ascending order whatever the
 * split of rows among workers, so --seq, any -t and both programs
 * produce the same bytes (the Makefile targets plain x86-64: no FMA
 * contraction, which could differ between builds).
 * Workers take disjoint ranges of MM_BS-row blocks of C.
 */
#ifndef MATMULT_KERNEL_H
#define MATMULT_KERNEL_H

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MM_BS		64	/* block edge (rows, columns, k) */
#define MM_MAXT		256	/* most workers (det's child limit) */
#define MM_MAXN		8192
#define MM_DEFAULT_N	1536
#define MM_SEED_A	1
#define MM_SEED_B	2

struct mm_opts {
	unsigned t;		/* children / threads */
	int seq;		/* --seq: no fork, no threads */
	int verify;		/* --verify: compare with a sequential run */
	int n;			/* matrix edge */
};

/* One line on stderr, after the program's name. */
static void __attribute__((format(printf, 1, 2)))
mm_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* Fill a with n*n doubles in [-1, 1) from xorshift64 seeded by seed. */
static void
mm_fill(double *a, int n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull | 1;
	size_t i, nn = (size_t)n * n;

	for (i = 0; i < nn; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		a[i] = (double)((x * 2685821657736338717ull) >> 11) *
		       0x1p-52 - 1.0;
	}
}

/* Allocate the three matrices (C zeroed) and fill A and B. */
static int
mm_setup(int n, double **a, double **b, double **c)
{
	size_t bytes = (size_t)n * n * sizeof(double);

	*a = malloc(bytes);
	*b = malloc(bytes);
	*c = calloc((size_t)n * n, sizeof(double));
	if (!*a || !*b || !*c) {
		mm_err("out of memory for n=%d\n", n);
		return -1;
	}
	mm_fill(*a, n, MM_SEED_A);
	mm_fill(*b, n, MM_SEED_B);
	return 0;
}

/* Number of MM_BS-row blocks of an n x n matrix. */
static int
mm_nblocks(int n)
{
	return (n + MM_BS - 1) / MM_BS;
}

/* Rows [*r0, *r1) of worker w of t: a contiguous range of row blocks. */
static void
mm_part(int n, unsigned t, unsigned w, int *r0, int *r1)
{
	long nb = mm_nblocks(n);
	long b0 = nb * w / t, b1 = nb * (w + 1) / t;

	*r0 = (int)(b0 * MM_BS < n ? b0 * MM_BS : n);
	*r1 = (int)(b1 * MM_BS < n ? b1 * MM_BS : n);
}

/*
 * C[r0, r1) += A[r0, r1) x B, blocked.  C[i][j] accumulates
 * A[i][k] * B[k][j] for k = 0, 1, ..., n-1 in that order.
 */
static void
mm_rows(const double *a, const double *b, double *c, int n, int r0, int r1)
{
	int ii, jj, kk, i, j, k;

	for (ii = r0; ii < r1; ii += MM_BS) {
		int ie = ii + MM_BS < r1 ? ii + MM_BS : r1;

		for (jj = 0; jj < n; jj += MM_BS) {
			int je = jj + MM_BS < n ? jj + MM_BS : n;

			for (kk = 0; kk < n; kk += MM_BS) {
				int ke = kk + MM_BS < n ? kk + MM_BS : n;

				for (i = ii; i < ie; i++) {
					double *ci = c + (size_t)i * n;
					const double *ai = a + (size_t)i * n;

					for (k = kk; k < ke; k++) {
						const double *bk =
							b + (size_t)k * n;
						double aik = ai[k];

						for (j = jj; j < je; j++)
							ci[j] += aik * bk[j];
					}
				}
			}
		}
	}
}

/* FNV-1a (64 bits) over the bytes of C. */
static uint64_t
mm_checksum(const double *c, int n)
{
	const unsigned char *p = (const unsigned char *)c;
	size_t i, len = (size_t)n * n * sizeof(double);
	uint64_t h = 1469598103934665603ull;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/*
 * --verify: C must equal, byte for byte, a fresh sequential run of the
 * same kernel, and sampled elements a plain dot product (same order,
 * so also bit-exact).  0 or -1 with a message.
 */
static int
mm_verify(const double *a, const double *b, const double *c, int n)
{
	double *ref = calloc((size_t)n * n, sizeof(double));
	size_t i, nn = (size_t)n * n;
	int s, k, r = 0;

	if (!ref) {
		mm_err("--verify: out of memory\n");
		return -1;
	}
	mm_rows(a, b, ref, n, 0, n);
	for (i = 0; i < nn; i++)
		if (memcmp(&ref[i], &c[i], sizeof(double))) {
			mm_err("--verify: C[%zu][%zu] = %.17g, sequential "
			       "run %.17g\n", i / n, i % n, c[i], ref[i]);
			r = -1;
			break;
		}
	free(ref);
	for (s = 0; r == 0 && s < 257; s++) {
		size_t row = (size_t)s * 7919 % n, col = (size_t)s * 104729 % n;
		double dot = 0.0, got = c[row * n + col];

		for (k = 0; k < n; k++)
			dot += a[row * n + k] * b[(size_t)k * n + col];
		if (memcmp(&dot, &got, sizeof(double))) {
			mm_err("--verify: C[%zu][%zu] = %.17g, dot "
			       "product %.17g\n", row, col, got, dot);
			r = -1;
		}
	}
	return r;
}

/* Parse argv; 0 to run, 1 after --help, 2 on bad flags (one line). */
static int
mm_parse(int argc, char **argv, struct mm_opts *o)
{
	static const struct option opts[] = {
		{ "seq", no_argument, NULL, 'S' },
		{ "verify", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *me = program_invocation_short_name;
	const char *use = "[-t N] [--seq] [-s SIZE] [--verify]";
	unsigned long v;
	char *end;
	int c;

	*o = (struct mm_opts){ 2, 0, 0, MM_DEFAULT_N };
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			v = strtoul(optarg, &end, 10);
			if (*end || !*optarg || v == 0 || v > MM_MAXT) {
				mm_err("-t %s: expected 1..%d\n", optarg,
				       MM_MAXT);
				return 2;
			}
			o->t = (unsigned)v;
			break;
		case 's':
			v = strtoul(optarg, &end, 10);
			if (*end || !*optarg || v == 0 || v > MM_MAXN) {
				mm_err("-s %s: expected 1..%d\n", optarg,
				       MM_MAXN);
				return 2;
			}
			o->n = (int)v;
			break;
		case 'S':
			o->seq = 1;
			break;
		case 'V':
			o->verify = 1;
			break;
		case 'h':
			printf("usage: %s %s\nC = A x B for n x n doubles "
			       "(default n=%d) with N children/threads\n"
			       "(default 2); prints a checksum of C.\n", me,
			       use, MM_DEFAULT_N);
			return 1;
		case ':':
			mm_err("%s needs an argument; usage: %s %s\n",
			       argv[optind - 1], me, use);
			return 2;
		default:
			mm_err("bad option %s; usage: %s %s\n",
			       argv[optind - 1], me, use);
			return 2;
		}
	}
	if (optind < argc) {
		mm_err("unexpected argument %s; usage: %s %s\n",
		       argv[optind], me, use);
		return 2;
	}
	return 0;
}

/* Checksum line, --verify, cleanup: the end of main; the exit code. */
static int
mm_finish(double *a, double *b, double *c, const struct mm_opts *o)
{
	int r = 0;

	if (o->verify && mm_verify(a, b, c, o->n) != 0)
		r = 1;
	else
		printf("matmult: n=%d checksum %016llx\n", o->n,
		       (unsigned long long)mm_checksum(c, o->n));
	free(c);
	free(b);
	free(a);
	return r;
}

#endif /* MATMULT_KERNEL_H */
