/*
 * parallel.c -- det_parallel_for: a loop split over children.
 */
#include "det.h"

struct pfor {
	long lo;
	long hi;
	void (*fn)(long i, void *arg);
	void *arg;
};

static void
pfor_child(void *p)
{
	struct pfor *f = p;
	long i;

	for (i = f->lo; i < f->hi; i++)
		f->fn(i, f->arg);
}

/*
 * see det.h.  Child k runs the k-th of nchildren nearly equal slices
 * (the first (hi-lo) % nchildren slices get one more); the descriptors
 * live on this stack, which each child sees in its snapshot.
 */
int
det_parallel_for(long lo, long hi, unsigned nchildren,
		 void (*fn)(long i, void *arg), void *arg)
{
	struct pfor f[DET_MAX_CHILDREN];
	long n, base, extra, at;
	unsigned k, forked;
	int rc = DET_OK, r;

	if (!fn || nchildren == 0 || nchildren > DET_MAX_CHILDREN || hi < lo)
		return DET_EINVAL;
	n = hi - lo;
	base = n / nchildren;
	extra = n % nchildren;
	for (k = 0, at = lo; k < nchildren; k++) {
		f[k].lo = at;
		at += base + ((long)k < extra);
		f[k].hi = at;
		f[k].fn = fn;
		f[k].arg = arg;
	}
	for (forked = 0; forked < nchildren; forked++) {
		r = det_fork(forked, pfor_child, &f[forked]);
		if (r != DET_OK) {
			rc = r;
			break;
		}
	}
	for (k = 0; k < forked; k++) {
		r = det_join(k, NULL);
		if (rc == DET_OK)
			rc = r;
	}
	return rc;
}
