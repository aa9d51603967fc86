/*
 * qsort_pthread -- the pthreads twin of qsort: the same kernel
 * (qsort_kernel.h), tree and output, with threads instead of det spaces.
 *
 *   qsort_pthread [-t N] [--seq] [-s SIZE] [--verify]
 *
 * Each inner node of the tree partitions its range and starts two
 * threads (pthread_create per level, like qsort's two children per
 * space), then joins them.  -t 1 sorts in one thread; --seq sorts in
 * the main thread, without pthread_create.  SIZE is the number of
 * integers (default 16 million).
 */
#include "qsort_kernel.h"

/* One thread's range to sort and how many levels it may still split. */
struct qs_job {
	uint32_t *a;
	size_t n;
	unsigned depth;
	int rc;			/* out: 0, or -1 if a thread did not start */
};

static void *qs_thread(void *arg);

/*
 * Sort job's range in this thread: sequentially at a leaf, else
 * partition and sort the two halves in two new threads.  0 or -1.
 */
static int
qs_node(const struct qs_job *job)
{
	struct qs_job half[2];
	pthread_t tid[2];
	size_t k;
	int rc;

	if (qs_is_leaf(job->n, job->depth)) {
		qs_sort(job->a, job->n);
		return 0;
	}
	k = qs_partition(job->a, job->n);
	half[0] = (struct qs_job){ job->a, k, job->depth - 1, 0 };
	half[1] = (struct qs_job){ job->a + k, job->n - k, job->depth - 1,
				   0 };
	if (app_pthread_start(&tid[0], 0, qs_thread, &half[0]) != 0)
		return -1;
	rc = app_pthread_start(&tid[1], 1, qs_thread, &half[1]);
	pthread_join(tid[0], NULL);
	if (rc == 0)
		pthread_join(tid[1], NULL);
	if (half[0].rc != 0 || half[1].rc != 0)
		rc = -1;
	return rc;
}

/* A thread: sort its job, record failure below it in job->rc. */
static void *
qs_thread(void *arg)
{
	struct qs_job *job = arg;

	job->rc = qs_node(job);
	return NULL;
}

/* Sort a[0, n) in a tree for `workers`; 0, or -1 on a failure. */
static int
qs_parallel(uint32_t *a, size_t n, unsigned workers)
{
	struct qs_job job = { a, n, qs_levels(workers), 0 };
	pthread_t tid;

	if (workers > 1)
		return qs_node(&job);
	/* -t 1: one thread sorts it all */
	if (app_pthread_start(&tid, 0, qs_thread, &job) != 0)
		return -1;
	pthread_join(tid, NULL);
	return job.rc;
}

int
main(int argc, char **argv)
{
	return qs_main(argc, argv, qs_parallel);
}
