/*
 * md5 -- parallel brute-force search of an MD5 preimage, on det.
 *
 *   md5 [-t N] [--seq] [-s SIZE] [--verify]
 *
 * Children 0..N-1 each scan one part of the search space (see
 * md5_kernel.h) and write their result into their own slot of a global
 * array; the parent joins them in order and combines the slots.  SIZE
 * is the space in million candidates (default 16).  --seq runs the
 * kernel in the root space, without det_fork.  The output line is the
 * same as md5_pthread's, for any N.
 */
#include "det.h"
#include "md5_kernel.h"

/* One child's share of the search. */
struct md5_job {
	uint64_t lo;
	uint64_t hi;
	struct md5_result *out;
};

static struct md5_result results[MD5_MAX_WORKERS];
static uint32_t target[4];

/* A child: search its part, write its own result slot. */
static void
md5_child(void *arg)
{
	struct md5_job *j = arg;

	md5_search(j->lo, j->hi, target, j->out);
}

/* Fork n children, join them in order; 0, or the det error. */
static int
md5_parallel(uint64_t size, unsigned n)
{
	struct md5_job jobs[MD5_MAX_WORKERS];
	struct det_status st;
	unsigned k;
	int r, rc = 0;

	for (k = 0; k < n; k++) {
		jobs[k] = (struct md5_job){ md5_bound(size, k, n),
					    md5_bound(size, k + 1, n),
					    &results[k] };
		r = det_fork(k, md5_child, &jobs[k]);
		if (r != DET_OK) {
			fprintf(stderr, "md5: det_fork %u: error %d\n", k, r);
			n = k;
			rc = r;
			break;
		}
	}
	for (k = 0; k < n; k++) {
		r = det_join(k, &st);
		if (r != DET_OK) {
			fprintf(stderr, "md5: det_join %u: error %d%s\n", k,
				r, r == DET_ECONFLICT ?
				" (write/write conflict)" : "");
			if (rc == 0)
				rc = r;
		}
	}
	return rc;
}

int
main(int argc, char **argv)
{
	struct md5_opts o;
	struct md5_result all;
	int rc;

	rc = md5_parse(argc, argv, "md5", &o);
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
