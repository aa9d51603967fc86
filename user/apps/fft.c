/*
 * fft -- parallel radix-2 FFT on det.
 *
 *   fft [-t N] [--seq] [-s SIZE] [--verify]
 *
 * Each step of each transform (see fft_kernel.h: two per transform,
 * four per round trip) is one round: the root forks N children, each
 * doing its part of the step over disjoint indices of the arrays (all
 * allocated before the first fork), and joins them in order
 * (app_det_round, app_common.h).  --seq runs every step in the root
 * space, without det_fork.  SIZE is the number of complex points, a
 * power of two (default 4194304 = 2^22).  The output line is the same
 * as fft_pthread's, for any N.
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

/* Every step as a round of t children; 0, or nonzero on a failure. */
static int
fft_parallel(const struct fft_plan *p, unsigned t)
{
	struct fft_job jobs[APP_MAX_WORKERS];
	char ctx[32];
	unsigned s, w;

	for (s = 0; s < FFT_STEPS; s++) {
		for (w = 0; w < t; w++)
			jobs[w] = (struct fft_job){ p, s, w, t };
		snprintf(ctx, sizeof(ctx), " (step %u)", s);
		if (app_det_round(t, fft_child, jobs, sizeof(jobs[0]),
				  ctx) != 0)
			return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	return fft_main(argc, argv, fft_parallel);
}
