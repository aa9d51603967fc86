/*
 * dirty.c -- choose a dirty-page backend: by DET_DIRTY, or by probe.
 */
#define KERN_INTERNAL
#define LOG_PREFIX "dirty: "
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
