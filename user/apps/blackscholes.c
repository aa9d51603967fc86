/*
 * blackscholes -- PARSEC's Black-Scholes option pricing, on det.
 *
 *   blackscholes [-t N] [--seq] [-s SIZE] [--verify]
 *
 * The parent generates SIZE thousand options (default 1000) and
 * allocates the prices array; children 0..N-1 each price one slice of
 * it, BS_NUM_RUNS times over (see blackscholes_kernel.h); the parent
 * joins them in order.  --seq runs the kernel in the root space,
 * without det_fork.  The output line is the same as
 * blackscholes_pthread's, for any N.
 */
#include "det.h"
#include "blackscholes_kernel.h"

/* One child's slice of the options. */
struct bs_job {
	const struct bs_data *d;
	size_t lo;
	size_t hi;
};

/* A child: price its slice into the shared prices array. */
static void
bs_child(void *arg)
{
	struct bs_job *j = arg;

	bs_work(j->d, j->lo, j->hi, j->d->prices, BS_NUM_RUNS);
}

/* Fork n children, join them in order; 0, or the det error. */
static int
bs_parallel(const struct bs_data *d, unsigned n)
{
	struct bs_job jobs[BS_MAX_WORKERS];
	struct det_status st;
	unsigned k;
	int r, rc = 0;

	for (k = 0; k < n; k++) {
		jobs[k] = (struct bs_job){ d, bs_bound(d->n, k, n),
					   bs_bound(d->n, k + 1, n) };
		r = det_fork(k, bs_child, &jobs[k]);
		if (r != DET_OK) {
			fprintf(stderr, "blackscholes: det_fork %u: error "
				"%d\n", k, r);
			n = k;
			rc = r;
			break;
		}
	}
	for (k = 0; k < n; k++) {
		r = det_join(k, &st);
		if (r != DET_OK) {
			fprintf(stderr, "blackscholes: det_join %u: error "
				"%d%s\n", k, r, r == DET_ECONFLICT ?
				" (write/write conflict)" : "");
			if (rc == 0)
				rc = r;
		}
	}
	return rc;
}

int
main(int argc, char **argv)
{
	struct bs_opts o;
	struct bs_data d;
	int rc;

	rc = bs_parse(argc, argv, "blackscholes", &o);
	if (rc != 0)
		return rc;
	if (bs_setup(&d, o.n) != 0) {
		fprintf(stderr, "blackscholes: out of memory for %zu "
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
