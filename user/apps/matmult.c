/*
 * matmult -- Determinator's matrix-multiply benchmark on det.
 *
 *   matmult [-t N] [--seq] [-s SIZE] [--verify]
 *
 * C = A x B for SIZE x SIZE doubles (default 1536), cache-blocked.  The
 * parent allocates A, B and C, then forks N children (default 2); each
 * computes a disjoint range of row blocks of C, so the joins never
 * conflict.  --seq runs the same kernel in one space.  Prints one line,
 * "matmult: n=SIZE checksum HEX", the same for --seq, any N and
 * matmult_pthread.  A failed det_fork or det_join: exit status 3.
 */
#include "det.h"
#include "matmult_kernel.h"

struct job {
	const double *a;
	const double *b;
	double *c;
	int n;
	int r0;
	int r1;
};

static void
child(void *p)
{
	struct job *j = p;

	mm_rows(j->a, j->b, j->c, j->n, j->r0, j->r1);
}

/* Fork one child per row range, join them in order; exit 3 on error. */
static void
parallel(const double *a, const double *b, double *c, int n, unsigned t)
{
	struct job jobs[MM_MAXT];
	struct det_status st;
	unsigned w;
	int r;

	for (w = 0; w < t; w++) {
		jobs[w] = (struct job){ a, b, c, n, 0, 0 };
		mm_part(n, t, w, &jobs[w].r0, &jobs[w].r1);
		r = det_fork(w, child, &jobs[w]);
		if (r != DET_OK) {
			fprintf(stderr, "matmult: det_fork %u: error %d\n", w,
				r);
			exit(3);
		}
	}
	for (w = 0; w < t; w++) {
		r = det_join(w, &st);
		if (r != DET_OK) {
			fprintf(stderr, "matmult: det_join %u: error %d "
				"(signal %d, %zu conflicts%s%s)\n", w, r,
				st.signal, st.nconflicts,
				st.nconflicts ? ", first at " : "",
				st.nconflicts ? st.conflicts[0].where : "");
			exit(3);
		}
	}
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
