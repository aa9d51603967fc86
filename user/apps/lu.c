/*
 * lu -- Determinator's LU decomposition benchmarks (lu_cont with
 * --contig, lu_noncont without) on det.
 *
 *   lu [-t N] [--seq] [-s SIZE] [--verify] [--contig]
 *
 * Blocked LU without pivoting of a diagonally dominant SIZE x SIZE
 * matrix (default 2048), see lu_kernel.h.  One round of det_fork /
 * det_join per diagonal block step: the parent forks up to N children
 * (default 2), each updating a disjoint range of block columns, and
 * joins them in order before the next step.  --seq runs the same kernel
 * in one space.  Prints one line, "lu: n=SIZE checksum HEX", the same
 * for --seq, any N, either layout and lu_pthread.  A failed det_fork or
 * det_join: exit status 3 (app_det_run_or_exit, app_common.h).
 */
#include "det.h"
#include "lu_kernel.h"

/* One child's block columns [j0, j1) at step k. */
struct job {
	const struct lu_mat *m;
	int k;
	int j0;
	int j1;
};

/* A child: its block columns of step k. */
static void
child(void *p)
{
	struct job *j = p;

	lu_step(j->m, j->k, j->j0, j->j1);
}

/* Each step: a child per non-empty column range, joined in order. */
static void
parallel(const struct lu_mat *m, unsigned t)
{
	struct job jobs[APP_MAX_WORKERS];
	unsigned w, n;
	int k;

	lu_factor_column(m, 0);
	for (k = 0; k + 1 < m->nb; k++) {
		for (w = n = 0; w < t; w++) {
			struct job *j = &jobs[n];

			*j = (struct job){ m, k, 0, 0 };
			lu_part(m->nb, k, t, w, &j->j0, &j->j1);
			if (j->j0 < j->j1)
				n++;
		}
		app_det_run_or_exit(n, child, jobs, sizeof(jobs[0]));
	}
}

int
main(int argc, char **argv)
{
	return lu_main(argc, argv, parallel);
}
