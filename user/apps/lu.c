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
 * det_join: exit status 3.
 */
#include "det.h"
#include "lu_kernel.h"

struct job {
	const struct lu_mat *m;
	int k;
	int j0;
	int j1;
};

static void
child(void *p)
{
	struct job *j = p;

	lu_step(j->m, j->k, j->j0, j->j1);
}

/* Print why det_join/det_sync of child w failed, and exit 3. */
static void
join_failed(unsigned w, int r, const struct det_status *st)
{
	fprintf(stderr, "lu: det_join %u: error %d (signal %d, %zu "
		"conflicts%s%s)\n", w, r, st->signal, st->nconflicts,
		st->nconflicts ? ", first at " : "",
		st->nconflicts ? st->conflicts[0].where : "");
	exit(3);
}

/* Each step: fork a child per non-empty column range, join in order. */
static void
parallel(const struct lu_mat *m, unsigned t)
{
	struct job jobs[LU_MAXT];
	struct det_status st;
	unsigned w, forked;
	int k, r;

	lu_factor_column(m, 0);
	for (k = 0; k + 1 < m->nb; k++) {
		for (w = forked = 0; w < t; w++) {
			struct job *j = &jobs[forked];

			*j = (struct job){ m, k, 0, 0 };
			lu_part(m->nb, k, t, w, &j->j0, &j->j1);
			if (j->j0 == j->j1)
				continue;
			r = det_fork(forked, child, j);
			if (r != DET_OK) {
				fprintf(stderr, "lu: det_fork %u: error %d\n",
					forked, r);
				exit(3);
			}
			forked++;
		}
		for (w = 0; w < forked; w++) {
			r = det_join(w, &st);
			if (r != DET_OK)
				join_failed(w, r, &st);
		}
	}
}

int
main(int argc, char **argv)
{
	struct lu_opts o;
	struct lu_mat m;
	int r = lu_parse(argc, argv, &o);

	if (r)
		return r == 1 ? 0 : 2;
	if (lu_setup(&m, o.n, o.contig) != 0)
		return 1;
	if (o.seq)
		lu_seq(&m);
	else
		parallel(&m, o.t);
	return lu_finish(&m, &o);
}
