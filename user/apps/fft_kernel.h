/*
 * fft_kernel.h -- the kernel shared by fft.c (det) and fft_pthread.c.
 *
 * Radix-2 iterative (decimation-in-time) FFT of SIZE complex doubles,
 * after Determinator's fft benchmark.  The input is SIZE pseudo-random
 * points from a fixed seed; the benchmark does FFT_REPS round trips,
 * each a forward transform (a -> b) and an inverse one (b -> a, scaled
 * by 1/SIZE), and prints the FNV-1a checksum of the bytes of the last
 * forward transform.  --verify checks that the round trips give back
 * the input and a few bins of the forward transform against a direct
 * DFT.
 *
 * One transform is two steps, each split among the workers over
 * disjoint index ranges (one det_fork/det_join round, or one barrier,
 * per step):
 *
 *  1. blocks: the array is cut into B blocks of M = SIZE / B points
 *     (B = 64, or the power of two >= N if larger; at most SIZE).
 *     Each worker fills its blocks of dst with the bit-reversal
 *     permutation of src, then does the first log2(M) stages on each
 *     block, which never leave it;
 *  2. columns: the last log2(B) stages pair points that differ only in
 *     the block number: column c (the points c, M + c, 2M + c, ...) is
 *     a B-point problem of its own.  Each worker does all these stages
 *     on its range of columns, a tile of columns at a time.
 *
 * Every butterfly of every stage is the same fft_butterfly call on the
 * same two values with the same twiddle factor, whatever the split:
 * the result is bit-identical for --seq, any -t and both programs.
 *
 * Everything here is static: each program includes it once.  Only the
 * drivers (fork/join rounds or threads with a barrier) that they hand
 * fft_main differ.
 */
#ifndef FFT_KERNEL_H
#define FFT_KERNEL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_common.h"

#define FFT_SIZE_DEF	(1ul << 22)	/* default -s */
#define FFT_SIZE_MAX	(1ul << 26)
#define FFT_REPS	3	/* round trips (forward + inverse) */
#define FFT_STEPS	(FFT_REPS * 4)	/* 2 transforms of 2 steps each */
#define FFT_BLOCKS	64	/* B, at least (more if more workers) */
#define FFT_TILE	32	/* columns per tile in step 2 */
#define FFT_GROUP	4	/* blocks gathered together in step 1 */

/* A complex number; the arrays are plain pairs of doubles. */
struct fft_cpx {
	double re;
	double im;
};

/* Sizes, twiddle factors and the arrays (set up before any worker). */
struct fft_plan {
	size_t n;		/* points */
	size_t nblk;		/* B: blocks, a power of two <= n */
	size_t m;		/* M = n / B: points per block = columns */
	unsigned logb;
	unsigned logm;
	struct fft_cpx *tw;	/* n / 2: tw[k] = exp(-2 pi i k / n) */
	struct fft_cpx *tws;	/* m: tws[h + j] = tw[j n / 2h], j < h */
	struct fft_cpx *a;	/* data: input, inverse transforms */
	struct fft_cpx *b;	/* forward transforms */
	unsigned char rev8[256];	/* bytes with their bits reversed */
};

/* Base-2 logarithm of a power of two. */
static unsigned
fft_log2(size_t x)
{
	unsigned l = 0;

	while (((size_t)1 << l) < x)
		l++;
	return l;
}

/* x's low `bits` bits in reverse order (bits <= 32). */
static inline size_t
fft_rev(const struct fft_plan *p, size_t x, unsigned bits)
{
	uint32_t r;

	if (bits == 0)
		return 0;
	r = (uint32_t)p->rev8[x & 0xff] << 24 |
	    (uint32_t)p->rev8[x >> 8 & 0xff] << 16 |
	    (uint32_t)p->rev8[x >> 16 & 0xff] << 8 |
	    (uint32_t)p->rev8[x >> 24 & 0xff];
	return r >> (32 - bits);
}

/*
 * Set up p for n points and `workers` workers: B = max(FFT_BLOCKS, the
 * power of two >= workers), at most n; allocate the arrays and fill
 * the twiddle tables.  0, or -1 when out of memory.
 */
static int
fft_init(struct fft_plan *p, size_t n, unsigned workers)
{
	size_t k, h, nblk = FFT_BLOCKS;
	unsigned i, j;

	while (nblk < workers)
		nblk *= 2;
	if (nblk > n)
		nblk = n;
	p->n = n;
	p->nblk = nblk;
	p->m = n / nblk;
	p->logb = fft_log2(nblk);
	p->logm = fft_log2(p->m);
	for (i = 0; i < 256; i++) {
		for (j = 0, p->rev8[i] = 0; j < 8; j++)
			p->rev8[i] |= (unsigned char)((i >> j & 1) << (7 - j));
	}
	p->tw = malloc(n / 2 * sizeof(*p->tw));
	p->tws = malloc(p->m * sizeof(*p->tws));
	p->a = malloc(n * sizeof(*p->a));
	p->b = malloc(n * sizeof(*p->b));
	if (!p->tw || !p->tws || !p->a || !p->b)
		return -1;
	for (k = 0; k < n / 2; k++) {
		double t = 2 * M_PI * (double)k / (double)n;

		p->tw[k].re = cos(t);
		p->tw[k].im = -sin(t);
	}
	for (h = 1; h < p->m; h *= 2)	/* copies: the same values */
		for (k = 0; k < h; k++)
			p->tws[h + k] = p->tw[k * (n / (2 * h))];
	return 0;
}

/* The fixed input: n points with parts in [-1, 1) from xorshift64*. */
static void
fft_fill(struct fft_cpx *x, size_t n)
{
	uint64_t s = app_seed(1);
	size_t i;

	for (i = 0; i < n; i++) {
		x[i].re = (double)(app_rand(&s) >> 11) * 0x1p-52 - 1.0;
		x[i].im = (double)(app_rand(&s) >> 11) * 0x1p-52 - 1.0;
	}
}

/*
 * The butterfly: (u, v) <- (u + w v, u - w v), with w conjugated for
 * the inverse transform.  The only arithmetic on the data.
 */
static inline void
fft_butterfly(struct fft_cpx *u, struct fft_cpx *v, struct fft_cpx w,
	      int inv)
{
	double wi = inv ? -w.im : w.im;
	double tr = w.re * v->re - wi * v->im;
	double ti = w.re * v->im + wi * v->re;

	v->re = u->re - tr;
	v->im = u->im - ti;
	u->re += tr;
	u->im += ti;
}

/*
 * The first logm stages on one block d[0, m), the twiddle factors of
 * each stage read in order from its part of tws.
 */
static void
fft_block_stages(const struct fft_plan *p, struct fft_cpx *d, int inv)
{
	const struct fft_cpx *w;
	size_t h, s, j;

	for (h = 1; h < p->m; h *= 2) {
		w = p->tws + h;
		for (s = 0; s < p->m; s += 2 * h)
			for (j = 0; j < h; j++)
				fft_butterfly(&d[s + j], &d[s + j + h], w[j],
					      inv);
	}
}

/*
 * Step 1 for blocks number rev(q), q in [q0, q1): point i of block
 * rev(q) is src[rev(i) * B + q].  Blocks are gathered FFT_GROUP at a
 * time (consecutive q: the same source cache lines), then transformed.
 */
static void
fft_blocks(const struct fft_plan *p, const struct fft_cpx *src,
	   struct fft_cpx *dst, int inv, size_t q0, size_t q1)
{
	struct fft_cpx *d[FFT_GROUP];
	size_t q, g, ng, i, r;

	for (q = q0; q < q1; q += ng) {
		ng = q1 - q < FFT_GROUP ? q1 - q : FFT_GROUP;
		for (g = 0; g < ng; g++)
			d[g] = dst + fft_rev(p, q + g, p->logb) * p->m;
		for (i = 0; i < p->m; i++) {
			r = (fft_rev(p, i, p->logm) << p->logb) + q;
			for (g = 0; g < ng; g++)
				d[g][i] = src[r + g];
		}
		for (g = 0; g < ng; g++)
			fft_block_stages(p, d[g], inv);
	}
}

/*
 * Step 2 for columns [c0, c1) of x, a tile at a time: the last logb
 * stages (pairing points 1, 2, ..., B/2 blocks apart), then the 1/n
 * scaling of the inverse transform.
 */
static void
fft_columns(const struct fft_plan *p, struct fft_cpx *x, int inv,
	    size_t c0, size_t c1)
{
	size_t t0, t1, hb, k0, kk, c, stride, w0, m = p->m;
	struct fft_cpx *u, *v;
	double scale = 1.0 / (double)p->n;

	for (t0 = c0; t0 < c1; t0 = t1) {
		t1 = c1 - t0 < FFT_TILE ? c1 : t0 + FFT_TILE;
		for (hb = 1; hb < p->nblk; hb *= 2) {
			stride = p->nblk / (2 * hb);	/* n / (2 hb m) */
			for (k0 = 0; k0 < p->nblk; k0 += 2 * hb)
				for (kk = 0; kk < hb; kk++) {
					u = x + (k0 + kk) * m;
					v = u + hb * m;
					w0 = kk * m * stride;
					for (c = t0; c < t1; c++)
						fft_butterfly(&u[c], &v[c],
							p->tw[w0 + c * stride],
							inv);
				}
		}
		if (!inv)
			continue;
		for (k0 = 0; k0 < p->nblk; k0++)
			for (c = t0; c < t1; c++) {
				x[k0 * m + c].re *= scale;
				x[k0 * m + c].im *= scale;
			}
	}
}

/*
 * Worker w's part (of t workers) of step s (0 <= s < FFT_STEPS): step
 * s is step 1 or 2 (s even or odd) of the forward transform a -> b (s
 * / 2 even) or of the inverse b -> a.  Writes only its own indices.
 */
static void
fft_step(const struct fft_plan *p, unsigned s, unsigned w, unsigned t)
{
	int inv = s / 2 % 2;
	const struct fft_cpx *src = inv ? p->b : p->a;
	struct fft_cpx *dst = inv ? p->a : p->b;

	if (s % 2 == 0)
		fft_blocks(p, src, dst, inv, app_bound(p->nblk, w, t),
			   app_bound(p->nblk, w + 1, t));
	else
		fft_columns(p, dst, inv, app_bound(p->m, w, t),
			    app_bound(p->m, w + 1, t));
}

/* Direct DFT of x at bin k, in long double. */
static void
fft_dft_bin(const struct fft_plan *p, const struct fft_cpx *x, size_t k,
	    long double *re, long double *im)
{
	long double sr = 0, si = 0, wr, wi;
	size_t j, e, h = p->n / 2;

	for (j = 0; j < p->n; j++) {
		e = j * k % p->n;	/* w^e = -w^(e - n/2) */
		wr = e < h ? p->tw[e].re : -p->tw[e - h].re;
		wi = e < h ? p->tw[e].im : -p->tw[e - h].im;
		sr += wr * x[j].re - wi * x[j].im;
		si += wr * x[j].im + wi * x[j].re;
	}
	*re = sr;
	*im = si;
}

/*
 * --verify: the round trips gave back the input x0 (to 1e-9), and a few
 * bins of the last forward transform (p->b) agree with a direct DFT of
 * x0.  0, or 1 with a line on stderr.
 */
static int
fft_verify(const struct fft_plan *p, const struct fft_cpx *x0)
{
	size_t i, k, n = p->n;
	size_t bins[5] = { 0, 1, n / 2, n - 1, n / 3 };
	long double re, im;
	double err = 0, e, tol = 1e-9 * sqrt((double)n);

	for (i = 0; i < n; i++) {
		e = fabs(p->a[i].re - x0[i].re) + fabs(p->a[i].im - x0[i].im);
		if (!(e <= err))
			err = e;
	}
	if (!(err <= 1e-9)) {
		fprintf(stderr, "fft: verify: %d round trips are off the "
			"input by up to %g\n", FFT_REPS, err);
		return 1;
	}
	for (i = 0; i < 5; i++) {
		k = bins[i];
		fft_dft_bin(p, x0, k, &re, &im);
		e = fabs((double)(re - p->b[k].re)) +
		    fabs((double)(im - p->b[k].im));
		if (!(e <= tol)) {
			fprintf(stderr, "fft: verify: bin %zu is (%.15g, "
				"%.15g), the direct DFT gives (%.15g, "
				"%.15g)\n", k,
				p->b[k].re, p->b[k].im, (double)re,
				(double)im);
			return 1;
		}
	}
	return 0;
}

/* The --help text after the usage line. */
static void
fft_describe(void)
{
	printf("%d round trips of a radix-2 FFT of SIZE complex points (a "
	       "power of two, default\n%lu, at most %lu) with N workers "
	       "(default 2); --seq: no workers.\n", FFT_REPS, FFT_SIZE_DEF,
	       FFT_SIZE_MAX);
}

/* The command line: -s in points, a power of two. */
static const struct app_spec fft_spec = {
	FFT_SIZE_DEF, 2, FFT_SIZE_MAX, 1, 1, "points", NULL, fft_describe,
};

/*
 * Set up the plan and input (and x0, a copy of it, for --verify) for
 * the options o.  0, or 1 when out of memory (printed).
 */
static int
fft_setup(struct fft_plan *p, const struct app_opts *o,
	  struct fft_cpx **x0)
{
	size_t n = o->size;

	*x0 = NULL;
	if (fft_init(p, n, o->workers) != 0 ||
	    (o->verify && !(*x0 = malloc(n * sizeof(**x0))))) {
		fprintf(stderr, "fft: out of memory for %zu points\n", n);
		return 1;
	}
	fft_fill(p->a, n);
	if (o->verify)
		memcpy(*x0, p->a, n * sizeof(**x0));
	return 0;
}

/* After the steps: --verify if asked, then the result line; 0 or 1. */
static int
fft_finish(const struct fft_plan *p, const struct fft_cpx *x0)
{
	if (x0 && fft_verify(p, x0) != 0)
		return 1;
	printf("fft: n=%zu checksum %016llx\n", p->n, (unsigned long long)
	       app_fnv(APP_FNV_BASIS, p->b, p->n * sizeof(*p->b)));
	return 0;
}

/*
 * The program: every step in this thread (--seq) or by parallel(p, t),
 * which returns 0 or nonzero after a failure (printed, exit status 3);
 * the exit status.
 */
static int
fft_main(int argc, char **argv,
	 int (*parallel)(const struct fft_plan *p, unsigned t))
{
	struct app_opts o;
	struct fft_plan p;
	struct fft_cpx *x0;
	unsigned s;
	int rc;

	rc = app_parse(argc, argv, &fft_spec, &o);
	if (rc != 0)
		return rc;
	if (fft_setup(&p, &o, &x0) != 0)
		return 1;
	if (o.seq) {
		for (s = 0; s < FFT_STEPS; s++)
			fft_step(&p, s, 0, 1);
	} else if (parallel(&p, o.workers) != 0) {
		return 3;
	}
	return fft_finish(&p, x0);
}

#endif /* FFT_KERNEL_H */
