/*
 * fft_pthread -- the pthreads twin of fft: the same kernel
 * (fft_kernel.h), split and output, with N threads instead of det
 * children.
 *
 *   fft_pthread [-t N] [--seq] [-s SIZE] [--verify]
 *
 * The N threads are started once; each does its part of every step
 * and waits at a barrier after each one (where fft forks and joins a
 * round of children).  --seq runs every step in the main thread,
 * without pthread_create.  SIZE is the number of complex points, a
 * power of two (default 4194304 = 2^22).
 */
#include "fft_kernel.h"

/* One thread: its worker number, and what all threads share. */
struct fft_job {
	const struct fft_plan *p;
	pthread_barrier_t *bar;
	unsigned w;
	unsigned t;
};

/* A thread: its part of every step, a barrier after each. */
static void *
fft_thread(void *arg)
{
	const struct fft_job *j = arg;
	unsigned s;

	for (s = 0; s < FFT_STEPS; s++) {
		fft_step(j->p, s, j->w, j->t);
		pthread_barrier_wait(j->bar);
	}
	return NULL;
}

/* Run all steps with t threads; exit 3 if one does not start. */
static int
fft_parallel(const struct fft_plan *p, unsigned t)
{
	struct fft_job jobs[APP_MAX_WORKERS];
	pthread_t tid[APP_MAX_WORKERS];
	pthread_barrier_t bar;
	unsigned w;

	pthread_barrier_init(&bar, NULL, t);
	for (w = 0; w < t; w++) {
		jobs[w] = (struct fft_job){ p, &bar, w, t };
		if (app_pthread_start(&tid[w], w, fft_thread, &jobs[w]) != 0)
			exit(3);	/* the others would wait forever */
	}
	for (w = 0; w < t; w++)
		pthread_join(tid[w], NULL);
	pthread_barrier_destroy(&bar);
	return 0;
}

int
main(int argc, char **argv)
{
	return fft_main(argc, argv, fft_parallel);
}
