/*
 * blackscholes_pthread -- the pthreads twin of blackscholes: the same
 * kernel (blackscholes_kernel.h) and output, with N threads instead of
 * det children.
 *
 *   blackscholes_pthread [-t N] [--seq] [-s SIZE] [--verify]
 *
 * SIZE is the number of options in thousands (default 1000).  --seq
 * runs the kernel in the main thread, without pthread_create.
 */
#include <pthread.h>

#include "blackscholes_kernel.h"

/* One thread's slice of the options. */
struct bs_job {
	const struct bs_data *d;
	size_t lo;
	size_t hi;
};

/* A thread: price its slice into the shared prices array. */
static void *
bs_thread(void *arg)
{
	struct bs_job *j = arg;

	bs_work(j->d, j->lo, j->hi, j->d->prices, BS_NUM_RUNS);
	return NULL;
}

/* Start n threads, join them in order; 0, or -1 if one did not start. */
static int
bs_parallel(const struct bs_data *d, unsigned n)
{
	struct bs_job jobs[BS_MAX_WORKERS];
	pthread_t tid[BS_MAX_WORKERS];
	unsigned k;
	int r, rc = 0;

	for (k = 0; k < n; k++) {
		jobs[k] = (struct bs_job){ d, bs_bound(d->n, k, n),
					   bs_bound(d->n, k + 1, n) };
		r = pthread_create(&tid[k], NULL, bs_thread, &jobs[k]);
		if (r != 0) {
			fprintf(stderr, "blackscholes_pthread: "
				"pthread_create %u: %s\n", k, strerror(r));
			n = k;
			rc = -1;
			break;
		}
	}
	for (k = 0; k < n; k++)
		pthread_join(tid[k], NULL);
	return rc;
}

int
main(int argc, char **argv)
{
	struct bs_opts o;
	struct bs_data d;
	int rc;

	rc = bs_parse(argc, argv, "blackscholes_pthread", &o);
	if (rc != 0)
		return rc;
	if (bs_setup(&d, o.n) != 0) {
		fprintf(stderr, "blackscholes_pthread: out of memory for %zu "
			"options\n", o.n);
		return 1;
	}
	if (o.seq)
		bs_work(&d, 0, d.n, d.prices, BS_NUM_RUNS);
	else if (bs_parallel(&d, o.workers) != 0)
		return 3;
	if (o.verify && bs_verify(&d) != 0)
		return 1;
	bs_report(&d);
	bs_free(&d);
	return 0;
}
