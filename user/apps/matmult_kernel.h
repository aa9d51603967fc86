/*
 * matmult_kernel.h -- the kernel shared by matmult (det) and
 * matmult_pthread: C = A x B for n x n doubles, cache-blocked.
 *
 * Every element of C is summed over k in ascending order whatever the
 * split of rows among workers, so --seq, any -t and both programs
 * produce the same bytes (the Makefile targets plain x86-64: no FMA
 * contraction, which could differ between builds).
 * Workers take disjoint ranges of MM_BS-row blocks of C.  The two
 * programs differ only in the runner they hand mm_main (app_common.h):
 * det children or threads.
 */
#ifndef MATMULT_KERNEL_H
#define MATMULT_KERNEL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_common.h"

#define MM_BS		64	/* block edge (rows, columns, k) */
#define MM_MAXN		8192
#define MM_DEFAULT_N	1536
#define MM_SEED_A	1
#define MM_SEED_B	2

/* Fill a with n*n doubles in [-1, 1) from xorshift64 seeded by seed. */
static void
mm_fill(double *a, int n, uint64_t seed)
{
	uint64_t x = app_seed(seed);
	size_t i, nn = (size_t)n * n;

	for (i = 0; i < nn; i++)
		a[i] = (double)(app_rand(&x) >> 11) * 0x1p-52 - 1.0;
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
		app_err("out of memory for n=%d\n", n);
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
	long b0 = (long)app_bound(mm_nblocks(n), w, t);
	long b1 = (long)app_bound(mm_nblocks(n), w + 1, t);

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
	return app_fnv(APP_FNV_BASIS19, c, (size_t)n * n * sizeof(double));
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
		app_err("--verify: out of memory\n");
		return -1;
	}
	mm_rows(a, b, ref, n, 0, n);
	for (i = 0; i < nn; i++)
		if (memcmp(&ref[i], &c[i], sizeof(double))) {
			app_err("--verify: C[%zu][%zu] = %.17g, sequential "
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
			app_err("--verify: C[%zu][%zu] = %.17g, dot "
			       "product %.17g\n", row, col, got, dot);
			r = -1;
		}
	}
	return r;
}

/* The --help text after the usage line. */
static void
mm_describe(void)
{
	printf("C = A x B for n x n doubles (default n=%d) with N "
	       "children/threads\n(default 2); prints a checksum of C.\n",
	       MM_DEFAULT_N);
}

/* The command line: -s is the matrix edge. */
static const struct app_spec mm_spec = {
	MM_DEFAULT_N, 1, MM_MAXN, 1, 0, NULL, NULL, mm_describe,
};

/* Checksum line, --verify, cleanup: the end of main; the exit code. */
static int
mm_finish(double *a, double *b, double *c, int n, int verify)
{
	int r = 0;

	if (verify && mm_verify(a, b, c, n) != 0)
		r = 1;
	else
		printf("matmult: n=%d checksum %016llx\n", n,
		       (unsigned long long)mm_checksum(c, n));
	free(c);
	free(b);
	free(a);
	return r;
}

/* One worker's rows of C. */
struct mm_job {
	const double *a;
	const double *b;
	double *c;
	int n;
	int r0;
	int r1;
};

/* A worker: C[r0, r1) += A[r0, r1) x B. */
static void
mm_worker(void *p)
{
	struct mm_job *j = p;

	mm_rows(j->a, j->b, j->c, j->n, j->r0, j->r1);
}

/* One worker per row range, started by run; exit 3 on a failure. */
static void
mm_parallel(const double *a, const double *b, double *c, int n,
	    unsigned t, app_runner run)
{
	struct mm_job jobs[APP_MAX_WORKERS];
	unsigned w;

	for (w = 0; w < t; w++) {
		jobs[w] = (struct mm_job){ a, b, c, n, 0, 0 };
		mm_part(n, t, w, &jobs[w].r0, &jobs[w].r1);
	}
	if (run(t, mm_worker, jobs, sizeof(jobs[0])) != 0)
		exit(3);
}

/* The program, its workers started by run; the exit status. */
static int
mm_main(int argc, char **argv, app_runner run)
{
	struct app_opts o;
	double *a, *b, *c;
	int n, r = app_parse(argc, argv, &mm_spec, &o);

	if (r)
		return r;
	n = (int)o.size;
	if (mm_setup(n, &a, &b, &c) != 0)
		return 1;
	if (o.seq)
		mm_rows(a, b, c, n, 0, n);
	else
		mm_parallel(a, b, c, n, o.workers, run);
	return mm_finish(a, b, c, n, o.verify);
}

#endif /* MATMULT_KERNEL_H */
