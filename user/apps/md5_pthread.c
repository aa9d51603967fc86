/*
 * md5_pthread -- the pthreads twin of md5: the same kernel
 * (md5_kernel.h) and output, with N threads instead of det children.
 *
 *   md5_pthread [-t N] [--seq] [-s SIZE] [--verify]
 *
 * SIZE is the space in million candidates (default 16).  --seq runs the
 * kernel in the main thread, without pthread_create.
 */
#include <pthread.h>

#include "md5_kernel.h"

/* One thread's share of the search. */
struct md5_job {
	uint64_t lo;
	uint64_t hi;
	struct md5_result *out;
};

static struct md5_result results[MD5_MAX_WORKERS];
static uint32_t target[4];

/* A thread: search its part, write its own result slot. */
static void *
md5_thread(void *arg)
{
	struct md5_job *j = arg;

	md5_search(j->lo, j->hi, target, j->out);
	return NULL;
}

/* Start n threads, join them in order; 0, or -1 if one did not start. */
static int
md5_parallel(uint64_t size, unsigned n)
{
	struct md5_job jobs[MD5_MAX_WORKERS];
	pthread_t tid[MD5_MAX_WORKERS];
	unsigned k;
	int r, rc = 0;

	for (k = 0; k < n; k++) {
		jobs[k] = (struct md5_job){ md5_bound(size, k, n),
					    md5_bound(size, k + 1, n),
					    &results[k] };
		r = pthread_create(&tid[k], NULL, md5_thread, &jobs[k]);
		if (r != 0) {
			fprintf(stderr, "md5_pthread: pthread_create %u: "
				"%s\n", k, strerror(r));
			n = k;
			rc = -1;
			break;
		}
	}
	for (k = 0; k < n; k++)
		pthread_join(tid[k], NULL);
	return rc;
}

int
main(int argc, char **argv)
{
	struct md5_opts o;
	struct md5_result all;
	int rc;

	rc = md5_parse(argc, argv, "md5_pthread", &o);
	if (rc != 0)
		return rc;
	if (md5_selftest() != 0)
		return 1;
	md5_target(o.size, target);
	if (o.seq) {
		md5_search(0, o.size, target, &all);
	} else {
		if (md5_parallel(o.size, o.workers) != 0)
			return 3;
		all = md5_combine(results, o.workers);
	}
	if (o.verify && md5_verify(&all, o.size, target) != 0)
		return 1;
	return md5_report(&all, o.size);
}
