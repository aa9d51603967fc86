/*
 * fft -- parallel radix-2 FFT on det.
 *
 *   fft [-t N] [--seq] [-s SIZE] [--verify]
 *
 * Each step of each transform (see fft_kernel.h: two per transform,
 * four per round trip) is one round: the root forks N children, each
 * doing its part of the step over disjoint indices of the arrays (all
 * allocated before the first fork), and joins them in order.  --seq
 * runs every step in the root space, without det_fork.  SIZE is the
 * number of complex points, a power of two (default 4194304 = 2^22).
 * The output line is the same as fft_pthread's, for any N.
 */
#include "det.h"
#include "fft_kernel.h"

/* One child's part of one step. */
struct fft_job {
	const struct fft_plan *p;
	unsigned step;
	unsigned w;
	unsigned t;
};

/* A child: its part of the step. */
static void
fft_child(void *arg)
{
	const struct fft_job *j = arg;

	fft_step(j->p, j->step, j->w, j->t);
}

/* Step s as a round of t children, joined in order; 0 or a det error. */
static int
fft_round(const struct fft_plan *p, unsigned s, unsigned t)
{
	struct fft_job jobs[FFT_MAX_WORKERS];
	struct det_status st;
	unsigned w;
	int r, rc = 0;

	for (w = 0; w < t; w++) {
		jobs[w] = (struct fft_job){ p, s, w, t };
		r = det_fork(w, fft_child, &jobs[w]);
		if (r != DET_OK) {
			fprintf(stderr, "fft: det_fork %u: error %d\n", w, r);
			t = w;
			rc = r;
			break;
		}
	}
	for (w = 0; w < t; w++) {
		r = det_join(w, &st);
		if (r != DET_OK) {
			fprintf(stderr, "fft: det_join %u (step %u): error "
				"%d%s\n", w, s, r, r == DET_ECONFLICT ?
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
	struct fft_opts o;
	struct fft_plan p;
	struct fft_cpx *x0;
	unsigned s;
	int rc;

	rc = fft_parse(argc, argv, "fft", &o);
	if (rc != 0)
		return rc;
	if (fft_setup(&p, &o, &x0) != 0)
		return 1;
	for (s = 0; s < FFT_STEPS; s++) {
		if (o.seq)
			fft_step(&p, s, 0, 1);
		else if (fft_round(&p, s, o.workers) != 0)
			return 3;
	}
	return fft_finish(&p, x0);
}
