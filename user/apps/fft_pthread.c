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
#include <pthread.h>

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

/* Run all steps with t threads; 0, or -1 if a thread did not start. */
static int
fft_parallel(const struct fft_plan *p, unsigned t)
{
	struct fft_job jobs[FFT_MAX_WORKERS];
	pthread_t tid[FFT_MAX_WORKERS];
	pthread_barrier_t bar;
	unsigned w;
	int r;

	pthread_barrier_init(&bar, NULL, t);
	for (w = 0; w < t; w++) {
		jobs[w] = (struct fft_job){ p, &bar, w, t };
		r = pthread_create(&tid[w], NULL, fft_thread, &jobs[w]);
		if (r != 0) {	/* the others would wait forever */
			fprintf(stderr, "fft_pthread: pthread_create %u: "
				"%s\n", w, strerror(r));
			exit(3);
		}
	}
	for (w = 0; w < t; w++)
		pthread_join(tid[w], NULL);
	pthread_barrier_destroy(&bar);
	return 0;
}

int
main(int argc, char **argv)
{
	struct fft_opts o;
	struct fft_plan p;
	struct fft_cpx *x0;
	unsigned s;
	int rc;

	rc = fft_parse(argc, argv, "fft_pthread", &o);
	if (rc != 0)
		return rc;
	if (fft_setup(&p, &o, &x0) != 0)
		return 1;
	if (o.seq) {
		for (s = 0; s < FFT_STEPS; s++)
			fft_step(&p, s, 0, 1);
	} else if (fft_parallel(&p, o.workers) != 0) {
		return 3;
	}
	return fft_finish(&p, x0);
}
