/*
 * dirty.c -- choose a dirty-page backend: by DET_DIRTY, or by probe.
 */
#define KERN_INTERNAL
#define LOG_PREFIX "dirty: "
#include <errno.h>
#include <string.h>

#include "dirty.h"
#include "log.h"

const struct dirty_ops *const dirty_backends[] = {
	&dirty_scan_ops,
	&dirty_excl_ops,
	&dirty_mprotect_ops,
	&dirty_hash_ops,
	NULL,
};

/* see dirty.h */
const struct dirty_ops *
dirty_select(const char *force)
{
	const struct dirty_ops *const *b;

	for (b = dirty_backends; *b; b++) {
		if (force && *force && strcmp(force, (*b)->name) != 0)
			continue;
		if ((*b)->probe() == 0)
			return *b;
		if (force && *force) {
			pr_err("DET_DIRTY=%s: this backend does not work on "
			       "this machine", force);
			return NULL;
		}
	}
	if (force && *force)
		pr_err("DET_DIRTY=%s: unknown backend (choose pagemap_scan, "
		       "pagemap_excl, mprotect or hash)", force);
	else
		pr_err("no dirty-page backend works on this machine");
	return NULL;
}

/* see dirty.h */
long
dirty_trial(const struct dirty_ops *ops, char *p, size_t npages,
	    size_t write_page, uint8_t *bitmap)
{
	size_t bytes = sizeof(struct regions) + sizeof(struct region);
	struct regions *m;
	void *st;
	long n;

	m = rt_mmap(bytes, 0);
	if (!m)
		return -ENOMEM;
	m->n = 1;
	m->npages = npages;
	m->r[0] = (struct region){ (uintptr_t)p,
				   (uintptr_t)p + npages * PAGE_SIZE,
				   0, REGION_ANON };
	n = ops->begin(m, &st);
	if (n == 0) {
		*(volatile char *)(p + write_page * PAGE_SIZE) = 1;
		n = ops->collect(m, st, bitmap);
		ops->end(m, st);
	}
	rt_munmap(m, bytes);
	return n;
}
