/*
 * lu_pthread -- lu (see lu.c) with POSIX threads: the same kernel and
 * block-column split, N threads that meet at a barrier after each
 * diagonal block step instead of a round of det children.
 *
 *   lu_pthread [-t N] [--seq] [-s SIZE] [--verify] [--contig]
 *
 * Prints the same line as lu: "lu: n=SIZE checksum HEX".
 */
#include "lu_kernel.h"

struct job {
	const struct lu_mat *m;
	unsigned t;
	unsigned w;
};

static pthread_barrier_t step_done;

/* Thread w of t: its column range at every step, then the barrier. */
static void *
worker(void *p)
{
	struct job *j = p;
	int k, j0, j1;

	for (k = 0; k + 1 < j->m->nb; k++) {
		lu_part(j->m->nb, k, j->t, j->w, &j0, &j1);
		lu_step(j->m, k, j0, j1);
		pthread_barrier_wait(&step_done);
	}
	return NULL;
}

/* Factor column 0, then run t threads; exit 3 if one cannot start. */
static void
parallel(const struct lu_mat *m, unsigned t)
{
	static pthread_t tid[APP_MAX_WORKERS];
	static struct job jobs[APP_MAX_WORKERS];
	unsigned w;

	lu_factor_column(m, 0);
	pthread_barrier_init(&step_done, NULL, t);
	for (w = 0; w < t; w++) {
		jobs[w] = (struct job){ m, t, w };
		if (app_pthread_start(&tid[w], w, worker, &jobs[w]) != 0)
			exit(3);
	}
	for (w = 0; w < t; w++)
		pthread_join(tid[w], NULL);
	pthread_barrier_destroy(&step_done);
}

int
main(int argc, char **argv)
{
	return lu_main(argc, argv, parallel);
}
