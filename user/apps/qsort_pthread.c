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
#include <pthread.h>

#include "qsort_kernel.h"

/* One thread's range to sort and how many levels it may still split. */
struct qs_job {
	uint32_t *a;
	size_t n;
	unsigned depth;
	int rc;			/* out: 0, or -1 if a thread did not start */
};

static void *qs_thread(void *arg);

/* Start a thread on job; 0, or -1 (printed). */
static int
qs_start(pthread_t *tid, struct qs_job *job)
{
	int r = pthread_create(tid, NULL, qs_thread, job);

	if (r != 0) {
		fprintf(stderr, "qsort_pthread: pthread_create: %s\n",
			strerror(r));
		return -1;
	}
	return 0;
}

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
	if (qs_start(&tid[0], &half[0]) != 0)
		return -1;
	rc = qs_start(&tid[1], &half[1]);
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

int
main(int argc, char **argv)
{
	struct qs_opts o;
	struct qs_job job;
	pthread_t tid;
	uint64_t fp = 0;
	uint32_t *a;
	int rc;

	rc = qs_parse(argc, argv, "qsort_pthread", &o);
	if (rc != 0)
		return rc;
	a = malloc(o.n * sizeof(*a));
	if (!a) {
		fprintf(stderr, "qsort_pthread: out of memory for %zu "
			"integers\n", o.n);
		return 1;
	}
	qs_fill(a, o.n);
	if (o.verify)
		fp = qs_fingerprint(a, o.n);
	job = (struct qs_job){ a, o.n, qs_levels(o.workers), 0 };
	if (o.seq) {
		qs_sort(a, o.n);
	} else if (o.workers == 1) {	/* one thread sorts it all */
		rc = qs_start(&tid, &job);
		if (rc == 0) {
			pthread_join(tid, NULL);
			rc = job.rc;
		}
	} else {
		rc = qs_node(&job);
	}
	if (rc != 0) {
		free(a);
		return 3;
	}
	if (o.verify && qs_verify(a, o.n, fp) != 0) {
		free(a);
		return 1;
	}
	qs_report(a, o.n);
	free(a);
	return 0;
}
