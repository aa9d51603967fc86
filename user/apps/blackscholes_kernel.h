/*
 * blackscholes_kernel.h -- the kernel shared by blackscholes.c (det)
 * and blackscholes_pthread.c.
 *
 * PARSEC's blackscholes: price N European options with the
 * Black-Scholes formula (no dividends), the cumulative normal
 * distribution by PARSEC's polynomial approximation (CNDF), in single
 * precision (PARSEC's default fptype).  The options are generated from
 * a fixed seed; each worker prices a disjoint slice of them into the
 * prices array, NUM_RUNS times over (as PARSEC does, to lengthen the
 * run).  The result is the sum of the prices and an FNV-1a checksum of
 * the prices rounded to 1/10000.
 *
 * Everything here is static: each program includes it once.  The two
 * programs differ only in the runner they hand bs_main (app_common.h):
 * det children or threads.
 */
#ifndef BLACKSCHOLES_KERNEL_H
#define BLACKSCHOLES_KERNEL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_common.h"

#define BS_SIZE_DEF	1000	/* default -s: thousands of options */
#define BS_SIZE_MAX	100000	/* at most 100 million options */
#define BS_NUM_RUNS	25	/* times each option is priced */
#define BS_SEED		2010u	/* the options' generator seed */

typedef float fptype;

/* The options, as PARSEC lays them out: one array per field. */
struct bs_data {
	size_t n;
	fptype *sptprice;
	fptype *strike;
	fptype *rate;
	fptype *volatility;
	fptype *otime;
	int *otype;		/* 0: call, 1: put */
	fptype *prices;		/* the output */
};

#define inv_sqrt_2xPI 0.39894228040143270286

/* Cumulative normal distribution, PARSEC's CNDF. */
static fptype
bs_cndf(fptype InputX)
{
	int sign;
	fptype OutputX, xInput, xNPrimeofX, expValues;
	fptype xK2, xK2_2, xK2_3, xK2_4, xK2_5;
	fptype xLocal, xLocal_1, xLocal_2, xLocal_3;

	if (InputX < 0.0) {
		InputX = -InputX;
		sign = 1;
	} else {
		sign = 0;
	}
	xInput = InputX;
	expValues = exp(-0.5f * InputX * InputX);
	xNPrimeofX = expValues;
	xNPrimeofX = xNPrimeofX * inv_sqrt_2xPI;

	xK2 = 0.2316419 * xInput;
	xK2 = 1.0 + xK2;
	xK2 = 1.0 / xK2;
	xK2_2 = xK2 * xK2;
	xK2_3 = xK2_2 * xK2;
	xK2_4 = xK2_3 * xK2;
	xK2_5 = xK2_4 * xK2;

	xLocal_1 = xK2 * 0.319381530;
	xLocal_2 = xK2_2 * (-0.356563782);
	xLocal_3 = xK2_3 * 1.781477937;
	xLocal_2 = xLocal_2 + xLocal_3;
	xLocal_3 = xK2_4 * (-1.821255978);
	xLocal_2 = xLocal_2 + xLocal_3;
	xLocal_3 = xK2_5 * 1.330274429;
	xLocal_2 = xLocal_2 + xLocal_3;

	xLocal_1 = xLocal_2 + xLocal_1;
	xLocal = xLocal_1 * xNPrimeofX;
	xLocal = 1.0 - xLocal;

	OutputX = xLocal;
	if (sign)
		OutputX = 1.0 - OutputX;
	return OutputX;
}

/* Price of one European option, PARSEC's BlkSchlsEqEuroNoDiv. */
static fptype
bs_price(fptype sptprice, fptype strike, fptype rate, fptype volatility,
	 fptype time, int otype)
{
	fptype xSqrtTime, logValues, xPowerTerm, xD1, xD2, xDen;
	fptype NofXd1, NofXd2, FutureValueX;

	xSqrtTime = sqrt(time);
	logValues = log(sptprice / strike);

	xPowerTerm = volatility * volatility;
	xPowerTerm = xPowerTerm * 0.5;

	xD1 = rate + xPowerTerm;
	xD1 = xD1 * time;
	xD1 = xD1 + logValues;

	xDen = volatility * xSqrtTime;
	xD1 = xD1 / xDen;
	xD2 = xD1 - xDen;

	NofXd1 = bs_cndf(xD1);
	NofXd2 = bs_cndf(xD2);

	FutureValueX = strike * (exp(-(rate) * (time)));
	if (otype == 0)
		return (sptprice * NofXd1) - (FutureValueX * NofXd2);
	return (FutureValueX * (1.0 - NofXd2)) -
	       (sptprice * (1.0 - NofXd1));
}

/* The kernel: price options [lo, hi) into out, runs times over. */
static void
bs_work(const struct bs_data *d, size_t lo, size_t hi, fptype *out,
	unsigned runs)
{
	unsigned j;
	size_t i;

	for (j = 0; j < runs; j++)
		for (i = lo; i < hi; i++)
			out[i] = bs_price(d->sptprice[i], d->strike[i],
					  d->rate[i], d->volatility[i],
					  d->otime[i], d->otype[i]);
}

/* A uniform double in [0, 1) from the xorshift64* state *x. */
static double
bs_uniform(uint64_t *x)
{
	return (double)(app_rand(x) >> 11) * 0x1p-53;
}

/* Allocate and generate n options from BS_SEED; 0, or -1 (no memory). */
static int
bs_setup(struct bs_data *d, size_t n)
{
	uint64_t x = app_seed(BS_SEED);
	size_t i;

	d->n = n;
	d->sptprice = malloc(n * sizeof(fptype));
	d->strike = malloc(n * sizeof(fptype));
	d->rate = malloc(n * sizeof(fptype));
	d->volatility = malloc(n * sizeof(fptype));
	d->otime = malloc(n * sizeof(fptype));
	d->otype = malloc(n * sizeof(int));
	d->prices = calloc(n, sizeof(fptype));
	if (!d->sptprice || !d->strike || !d->rate || !d->volatility ||
	    !d->otime || !d->otype || !d->prices)
		return -1;
	for (i = 0; i < n; i++) {
		d->sptprice[i] = 10.0 + 90.0 * bs_uniform(&x);
		d->strike[i] = d->sptprice[i] * (0.7 + 0.6 * bs_uniform(&x));
		d->rate[i] = 0.01 + 0.09 * bs_uniform(&x);
		d->volatility[i] = 0.05 + 0.6 * bs_uniform(&x);
		d->otime[i] = 0.1 + 1.9 * bs_uniform(&x);
		d->otype[i] = bs_uniform(&x) < 0.5 ? 0 : 1;
	}
	return 0;
}

/* Free what bs_setup allocated. */
static void
bs_free(struct bs_data *d)
{
	free(d->sptprice);
	free(d->strike);
	free(d->rate);
	free(d->volatility);
	free(d->otime);
	free(d->otype);
	free(d->prices);
}

/* The --help text after the usage line. */
static void
bs_describe(void)
{
	printf("Price SIZE thousand options (default %d, at most %d) %d "
	       "times over with N\nworkers (default 2); --seq: no "
	       "workers.\n", BS_SIZE_DEF, BS_SIZE_MAX, BS_NUM_RUNS);
}

/* The command line: -s in thousand options. */
static const struct app_spec bs_spec = {
	BS_SIZE_DEF, 1, BS_SIZE_MAX, 1000, 0, "thousand options", NULL,
	bs_describe,
};

/* Print the result line: the sum and a checksum of the prices. */
static void
bs_report(const struct bs_data *d)
{
	uint64_t ck = APP_FNV_BASIS19, v;
	double sum = 0;
	size_t i;

	for (i = 0; i < d->n; i++) {
		sum += d->prices[i];
		v = (uint64_t)llround((double)d->prices[i] * 1e4);
		ck = app_fnv64(ck, v);
	}
	printf("blackscholes: %zu options x %d runs, sum %.4f checksum "
	       "%016llx\n", d->n, BS_NUM_RUNS, sum, (unsigned long long)ck);
}

/*
 * --verify: price every option once in this thread and compare with
 * d->prices bit for bit; 0, or 1 on a mismatch (or no memory).
 */
static int
bs_verify(const struct bs_data *d)
{
	fptype *ref = malloc(d->n * sizeof(fptype));
	size_t i;

	if (!ref) {
		fprintf(stderr, "blackscholes: verify: out of memory\n");
		return 1;
	}
	bs_work(d, 0, d->n, ref, 1);
	for (i = 0; i < d->n; i++) {
		if (memcmp(&ref[i], &d->prices[i], sizeof(fptype)) != 0) {
			fprintf(stderr, "blackscholes: verify: option %zu "
				"priced %.9g, sequentially %.9g\n", i,
				(double)d->prices[i], (double)ref[i]);
			free(ref);
			return 1;
		}
	}
	free(ref);
	return 0;
}

/* One worker's slice of the options. */
struct bs_job {
	const struct bs_data *d;
	size_t lo;
	size_t hi;
};

/* A worker: price its slice into the shared prices array. */
static void
bs_worker(void *arg)
{
	struct bs_job *j = arg;

	bs_work(j->d, j->lo, j->hi, j->d->prices, BS_NUM_RUNS);
}

/* The pricing by n workers, with run; 0, or nonzero after a failure. */
static int
bs_parallel(const struct bs_data *d, unsigned n, app_runner run)
{
	struct bs_job jobs[APP_MAX_WORKERS];
	unsigned k;

	for (k = 0; k < n; k++)
		jobs[k] = (struct bs_job){ d, app_bound(d->n, k, n),
					   app_bound(d->n, k + 1, n) };
	return run(n, bs_worker, jobs, sizeof(jobs[0]));
}

/* The program, its workers started by run; the exit status. */
static int
bs_main(int argc, char **argv, app_runner run)
{
	struct app_opts o;
	struct bs_data d;
	int rc;

	rc = app_parse(argc, argv, &bs_spec, &o);
	if (rc != 0)
		return rc;
	if (bs_setup(&d, o.size) != 0) {
		app_err("out of memory for %lu options\n", o.size);
		return 1;
	}
	if (o.seq)
		bs_work(&d, 0, d.n, d.prices, BS_NUM_RUNS);
	else if (bs_parallel(&d, o.workers, run) != 0)
		return 3;
	if (o.verify && bs_verify(&d) != 0)
		return 1;
	bs_report(&d);
	bs_free(&d);
	return 0;
}

#endif /* BLACKSCHOLES_KERNEL_H */
