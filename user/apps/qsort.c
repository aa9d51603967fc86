/*
 * qsort -- recursive parallel quicksort on det.
 *
 *   qsort [-t N] [--seq] [-s SIZE] [--verify]
 *
 * The root partitions the array (allocated before any fork) and forks
 * two children, one per half; each child partitions its half in place
 * and forks two children of its own (nested spaces), down to
 * ceil(log2 N) levels, where it sorts its range sequentially (see
 * qsort_kernel.h).  The halves are disjoint, so the joins never
 * conflict.  -t 1 sorts in one child; --seq sorts in the root space,
 * without det_fork.  SIZE is the number of integers (default 16
 * million).  The output line is the same as qsort_pthread's, for any N.
 *
 * Limit: det grants each child 1/64 of its parent's free address range
 * (at least 16 MiB), so a space at depth 3 has room for one child only;
 * -t 9 and more (4 levels) fail with DET_ENOMEM at det_fork (exit 3).
 */
#include "det.h"
#include "qsort_kernel.h"

/* One space's range to sort and how many levels it may still split. */
struct qs_job {
	uint32_t *a;
	size_t n;
	unsigned depth;
};

static void qs_child(void *arg);

/* Fork child k on job; 0, or the det error (printed). */
static int
qs_fork(unsigned k, struct qs_job *job)
{
	int r = det_fork(k, qs_child, job);

	if (r != DET_OK)
		fprintf(stderr, "qsort: det_fork %u at depth %u: error %d%s\n",
			k, det_depth(), r, r == DET_ENOMEM ?
			" (DET_ENOMEM: no address range left)" : "");
	return r;
}

/* Join child k; 0, or the det error / child's failure (printed). */
static int
qs_join(unsigned k)
{
	struct det_status st;
	int r = det_join(k, &st);

	if (r != DET_OK) {
		fprintf(stderr, "qsort: det_join %u at depth %u: error %d%s\n",
			k, det_depth(), r, r == DET_ECONFLICT ?
			" (write/write conflict)" : "");
		return r;
	}
	if (st.exit_code != 0)	/* a join failed further down */
		return DET_EFAULT;
	return 0;
}

/*
 * Sort job's range in this space: sequentially at a leaf, else
 * partition and sort the two halves in children 0 and 1.  0 or an error.
 */
static int
qs_node(const struct qs_job *job)
{
	struct qs_job half[2];
	size_t k;
	int rc, r, f1;

	if (qs_is_leaf(job->n, job->depth)) {
		qs_sort(job->a, job->n);
		return 0;
	}
	k = qs_partition(job->a, job->n);
	half[0] = (struct qs_job){ job->a, k, job->depth - 1 };
	half[1] = (struct qs_job){ job->a + k, job->n - k, job->depth - 1 };
	rc = qs_fork(0, &half[0]);
	if (rc != 0)
		return rc;
	f1 = qs_fork(1, &half[1]);
	rc = qs_join(0);
	r = f1 == 0 ? qs_join(1) : f1;
	if (rc == 0)
		rc = r;
	return rc;
}

/* A child space: sort its job, exit 3 if a join below it failed. */
static void
qs_child(void *arg)
{
	if (qs_node(arg) != 0)
		det_exit(3);
}

/* Sort a[0, n) in a tree for `workers`; 0, or nonzero on a failure. */
static int
qs_parallel(uint32_t *a, size_t n, unsigned workers)
{
	struct qs_job job = { a, n, qs_levels(workers) };

	if (workers == 1)	/* one child sorts it all */
		return qs_fork(0, &job) != 0 ? 3 : qs_join(0);
	return qs_node(&job);
}

int
main(int argc, char **argv)
{
	return qs_main(argc, argv, qs_parallel);
}
