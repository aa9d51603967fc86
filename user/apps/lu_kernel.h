/*
 * lu_kernel.h -- the kernel shared by lu (det) and lu_pthread: blocked
 * right-looking LU decomposition without pivoting (A = L U, L unit lower
 * triangular, both stored in place) of a diagonally dominant n x n
 * matrix of doubles, after Determinator's lu_cont and lu_noncont.
 *
 * Layouts: row-major (default, "noncont") or --contig, where each
 * LU_BS x LU_BS block is stored contiguously, blocks in row-major order
 * (edge blocks padded).  The kernels take a block pointer and a leading
 * dimension, so both layouts do exactly the same arithmetic and end with
 * the same numbers (and checksums).
 *
 * Step k (block column k already factored: diagonal block (k,k) holds
 * L_kk and U_kk, blocks (I,k), I > k, hold L_Ik), in parallel by block
 * columns J > k, split among workers in contiguous ranges:
 *   row panel  A_kJ := L_kk^-1 A_kJ
 *   trailing   A_IJ -= L_Ik A_kJ    for every I > k
 *   and the owner of column k+1 then factors it (lookahead): diagonal
 *   block (k+1,k+1), then A_I,k+1 := A_I,k+1 U_k+1,k+1^-1 for I > k+1.
 * A worker writes only its own block columns.  Block column 0 is
 * factored before step 0.  Every element sees the same operations in
 * the same order for any number of workers.
 *
 * The two programs differ only in the driver they hand lu_main: rounds
 * of det children, or threads meeting at a barrier after each step.
 */
#ifndef LU_KERNEL_H
#define LU_KERNEL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_common.h"

#define LU_BS		64	/* block edge */
#define LU_MAXN		8192
#define LU_DEFAULT_N	2048
#define LU_SEED		3
#define LU_CONTIG	1u	/* app_opts.flags: --contig */

struct lu_mat {
	double *a;
	int n;
	int nb;			/* blocks per row/column */
	int contig;
};

/* Pointer to block (I, J). */
static double *
lu_blk(const struct lu_mat *m, int I, int J)
{
	if (m->contig)
		return m->a + ((size_t)I * m->nb + J) * LU_BS * LU_BS;
	return m->a + ((size_t)I * m->n + J) * LU_BS;
}

/* Leading dimension (distance between rows) inside a block. */
static int
lu_ld(const struct lu_mat *m)
{
	return m->contig ? LU_BS : m->n;
}

/* Edge length of block row/column I (the last may be short). */
static int
lu_dim(const struct lu_mat *m, int I)
{
	int r = m->n - I * LU_BS;

	return r < LU_BS ? r : LU_BS;
}

/* Pointer to element (i, j). */
static double *
lu_at(const struct lu_mat *m, int i, int j)
{
	return lu_blk(m, i / LU_BS, j / LU_BS) +
	       (size_t)(i % LU_BS) * lu_ld(m) + j % LU_BS;
}

/* Element (i, j) of the input: off-diagonal in [0, 1), diagonal n + that:
 * strictly diagonally dominant, so no pivoting is needed. */
static double
lu_input(uint64_t seed, int n, int i, int j)
{
	uint64_t x = (seed * 0x9e3779b97f4a7c15ull) ^
		     ((uint64_t)i * n + j) * 0xbf58476d1ce4e5b9ull;
	double v;

	x ^= x >> 31;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 29;
	v = (double)(x >> 11) * 0x1p-53;
	return i == j ? v + n : v;
}

/* Allocate m (page-aligned, padding zeroed) and fill it with the input. */
static int
lu_setup(struct lu_mat *m, int n, int contig)
{
	size_t len;
	void *p;
	int i, j;

	m->n = n;
	m->nb = (n + LU_BS - 1) / LU_BS;
	m->contig = contig;
	len = contig ? (size_t)m->nb * m->nb * LU_BS * LU_BS : (size_t)n * n;
	len *= sizeof(double);
	if (posix_memalign(&p, 4096, len) != 0) {
		app_err("out of memory for n=%d\n", n);
		return -1;
	}
	memset(p, 0, len);
	m->a = p;
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
			*lu_at(m, i, j) = lu_input(LU_SEED, n, i, j);
	return 0;
}

/* Factor the b x b block d in place: d = L U, L unit lower. */
static void
lu_factor(double *d, int ld, int b)
{
	int p, i, j;

	for (p = 0; p < b; p++) {
		const double *dp = d + (size_t)p * ld;

		for (i = p + 1; i < b; i++) {
			double *di = d + (size_t)i * ld;
			double l = di[p] / dp[p];

			di[p] = l;
			for (j = p + 1; j < b; j++)
				di[j] -= l * dp[j];
		}
	}
}

/* x := L^-1 x for the b x w block x, L the unit lower part of d. */
static void
lu_solve_lower(const double *d, int ldd, double *x, int ldx, int b, int w)
{
	int i, p, j;

	for (i = 1; i < b; i++) {
		double *xi = x + (size_t)i * ldx;

		for (p = 0; p < i; p++) {
			const double *xp = x + (size_t)p * ldx;
			double l = d[(size_t)i * ldd + p];

			for (j = 0; j < w; j++)
				xi[j] -= l * xp[j];
		}
	}
}

/* x := x U^-1 for the h x b block x, U the upper part of d. */
static void
lu_solve_upper(const double *d, int ldd, double *x, int ldx, int h, int b)
{
	int r, p, j;

	for (r = 0; r < h; r++) {
		double *xr = x + (size_t)r * ldx;

		for (p = 0; p < b; p++) {
			const double *dp = d + (size_t)p * ldd;
			double v = xr[p] / dp[p];

			xr[p] = v;
			for (j = p + 1; j < b; j++)
				xr[j] -= v * dp[j];
		}
	}
}

/* c -= a b: c is h x w, a is h x kd, b is kd x w. */
static void
lu_gemm(double *c, int ldc, const double *a, int lda, const double *b,
	int ldb, int h, int w, int kd)
{
	int i, p, j;

	for (i = 0; i < h; i++) {
		double *ci = c + (size_t)i * ldc;
		const double *ai = a + (size_t)i * lda;

		for (p = 0; p < kd; p++) {
			const double *bp = b + (size_t)p * ldb;
			double v = ai[p];

			for (j = 0; j < w; j++)
				ci[j] -= v * bp[j];
		}
	}
}

/* Factor block column J (its earlier updates done): the diagonal block,
 * then the blocks below it. */
static void
lu_factor_column(const struct lu_mat *m, int J)
{
	double *d = lu_blk(m, J, J);
	int ld = lu_ld(m), b = lu_dim(m, J), I;

	lu_factor(d, ld, b);
	for (I = J + 1; I < m->nb; I++)
		lu_solve_upper(d, ld, lu_blk(m, I, J), ld, lu_dim(m, I), b);
}

/* Step k for block columns [j0, j1) (all > k): row panel, trailing
 * update, and the lookahead factorisation of column k+1. */
static void
lu_step(const struct lu_mat *m, int k, int j0, int j1)
{
	const double *dk = lu_blk(m, k, k);
	int ld = lu_ld(m), bk = lu_dim(m, k), I, J;

	for (J = j0; J < j1; J++) {
		double *akj = lu_blk(m, k, J);
		int w = lu_dim(m, J);

		lu_solve_lower(dk, ld, akj, ld, bk, w);
		for (I = k + 1; I < m->nb; I++)
			lu_gemm(lu_blk(m, I, J), ld, lu_blk(m, I, k), ld, akj,
				ld, lu_dim(m, I), w, bk);
		if (J == k + 1)
			lu_factor_column(m, J);
	}
}

/* Block columns [*j0, *j1) of worker w of t at step k. */
static void
lu_part(int nb, int k, unsigned t, unsigned w, int *j0, int *j1)
{
	uint64_t cols = (uint64_t)(nb - k - 1);

	*j0 = k + 1 + (int)app_bound(cols, w, t);
	*j1 = k + 1 + (int)app_bound(cols, w + 1, t);
}

/* The whole decomposition in one thread. */
static void
lu_seq(const struct lu_mat *m)
{
	int k;

	lu_factor_column(m, 0);
	for (k = 0; k + 1 < m->nb; k++)
		lu_step(m, k, k + 1, m->nb);
}

/* FNV-1a (64 bits) over the bytes of the elements in row-major order. */
static uint64_t
lu_checksum(const struct lu_mat *m)
{
	uint64_t h = APP_FNV_BASIS19;
	int i, j;

	for (i = 0; i < m->n; i++)
		for (j = 0; j < m->n; j++)
			h = app_fnv(h, lu_at(m, i, j), sizeof(double));
	return h;
}

/*
 * max |(L U - A)_ij| / max |A_ij| over every row (n <= 512) or 64 rows
 * spread over the matrix, A regenerated from the seed.
 */
static double
lu_residual(const struct lu_mat *m)
{
	int n = m->n, rows = n <= 512 ? n : 64, s, i, j, p;
	double err = 0.0, amax = 0.0;

	for (s = 0; s < rows; s++) {
		i = rows == n ? s : (int)((long)s * (n - 1) / (rows - 1));
		for (j = 0; j < n; j++) {
			int top = i < j ? i : j;
			double sum = i <= j ? *lu_at(m, i, j) : 0.0;
			double a = lu_input(LU_SEED, n, i, j);

			for (p = 0; p < top; p++)
				sum += *lu_at(m, i, p) * *lu_at(m, p, j);
			if (i > j)	/* L_ij U_jj, then U_jj's own term */
				sum += *lu_at(m, i, j) * *lu_at(m, j, j);
			err = fmax(err, fabs(sum - a));
			amax = fmax(amax, fabs(a));
		}
	}
	return err / amax;
}

/*
 * --verify: ||L U - A|| small, and the result equal byte for byte to a
 * sequential run.  0 or -1 with a message.
 */
static int
lu_verify(const struct lu_mat *m)
{
	double res = lu_residual(m);
	struct lu_mat ref;
	int i, j;

	if (!(res <= 1e-12)) {
		app_err("--verify: max |LU - A| / max |A| = %g, too "
		       "large\n", res);
		return -1;
	}
	if (lu_setup(&ref, m->n, m->contig) != 0)
		return -1;
	lu_seq(&ref);
	for (i = 0; i < m->n; i++)
		for (j = 0; j < m->n; j++)
			if (memcmp(lu_at(m, i, j), lu_at(&ref, i, j),
				   sizeof(double))) {
				app_err("--verify: element (%d,%d) = "
				       "%.17g, sequential run %.17g\n", i, j,
				       *lu_at(m, i, j), *lu_at(&ref, i, j));
				free(ref.a);
				return -1;
			}
	free(ref.a);
	return 0;
}

/* The --help text after the usage line. */
static void
lu_describe(void)
{
	printf("LU decomposition without pivoting of an n x n matrix "
	       "(default n=%d)\nwith N children/threads (default 2), "
	       "row-major or in contiguous\nblocks (--contig); prints a "
	       "checksum of L and U.\n", LU_DEFAULT_N);
}

static const char *const lu_flags[] = { "contig", NULL };

/* The command line: -s is the matrix edge; --contig. */
static const struct app_spec lu_spec = {
	LU_DEFAULT_N, 1, LU_MAXN, 1, 0, NULL, lu_flags, lu_describe,
};

/* Checksum line, --verify, cleanup: the end of main; the exit code. */
static int
lu_finish(struct lu_mat *m, int verify)
{
	int r = 0;

	if (verify && lu_verify(m) != 0)
		r = 1;
	else
		printf("lu: n=%d checksum %016llx\n", m->n,
		       (unsigned long long)lu_checksum(m));
	free(m->a);
	return r;
}

/*
 * The program: the decomposition in one thread (--seq) or by parallel,
 * which exits 3 on a failure; the exit status.
 */
static int
lu_main(int argc, char **argv,
	void (*parallel)(const struct lu_mat *m, unsigned t))
{
	struct app_opts o;
	struct lu_mat m;
	int r = app_parse(argc, argv, &lu_spec, &o);

	if (r)
		return r;
	if (lu_setup(&m, (int)o.size, (o.flags & LU_CONTIG) != 0) != 0)
		return 1;
	if (o.seq)
		lu_seq(&m);
	else
		parallel(&m, o.workers);
	return lu_finish(&m, o.verify);
}

#endif /* LU_KERNEL_H */
