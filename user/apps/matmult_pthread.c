/*
 * matmult_pthread -- matmult (see matmult.c) with POSIX threads: the
 * same kernel and row-block split, N threads instead of N det children.
 *
 *   matmult_pthread [-t N] [--seq] [-s SIZE] [--verify]
 *
 * Prints the same line as matmult: "matmult: n=SIZE checksum HEX".
 */
#include <pthread.h>

#include "matmult_kernel.h"

struct job {
	const double *a;
	const double *b;
	double *c;
	int n;
	int r0;
	int r1;
};

static void *
worker(void *p)
{
	struct job *j = p;

	mm_rows(j->a, j->b, j->c, j->n, j->r0, j->r1);
	return NULL;
}

/* One thread per row range; exit 3 if a thread cannot be started. */
static void
parallel(const double *a, const double *b, double *c, int n, unsigned t)
{
	static pthread_t tid[MM_MAXT];
	static struct job jobs[MM_MAXT];
	unsigned w;
	int r;

	for (w = 0; w < t; w++) {
		jobs[w] = (struct job){ a, b, c, n, 0, 0 };
		mm_part(n, t, w, &jobs[w].r0, &jobs[w].r1);
		r = pthread_create(&tid[w], NULL, worker, &jobs[w]);
		if (r != 0) {
			fprintf(stderr, "matmult_pthread: pthread_create: "
				"%s\n", strerror(r));
			exit(3);
		}
	}
	for (w = 0; w < t; w++)
		pthread_join(tid[w], NULL);
}

int
main(int argc, char **argv)
{
	struct mm_opts o;
	double *a, *b, *c;
	int r = mm_parse(argc, argv, &o);

	if (r)
		return r == 1 ? 0 : 2;
	if (mm_setup(o.n, &a, &b, &c) != 0)
		return 1;
	if (o.seq)
		mm_rows(a, b, c, o.n, 0, o.n);
	else
		parallel(a, b, c, o.n, o.t);
	return mm_finish(a, b, c, &o);
}
