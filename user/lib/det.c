/*
 * det.c -- libdet's public calls (see det.h): the error firewall.
 *
 * Every det_* entry point checks its arguments, calls kern/, and passes
 * the result through det_rc(), so only enum det_err values ever reach a
 * program.  Nothing here keeps mutable state except det_config, which
 * programs may change before their first det_fork.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "det.h"
#include "kern.h"
#include "remote.h"

struct det_config det_config = { .fallback_local = 1 };

/* Map a kern/ result to enum det_err; fill st->code/sys_errno. */
static int
det_rc(int r, struct det_status *st)
{
	int code;

	switch (r) {
	case 0:
		code = DET_OK;
		break;
	case SPACE_ECONFLICT:
		code = DET_ECONFLICT;
		break;
	case SPACE_EFAULT:
		code = DET_EFAULT;
		break;
	case SPACE_EPOLICY:
		code = DET_EPOLICY;
		break;
	case -EINVAL:
		code = DET_EINVAL;
		break;
	case -ECHILD:
		code = DET_ENOCHILD;
		break;
	case -ENOMEM:
	case -EAGAIN:
		code = DET_ENOMEM;
		break;
	default:
		code = DET_ESYS;
		if (st)
			st->sys_errno = r < 0 ? -r : r;
		break;
	}
	if (st)
		st->code = code;
	return code;
}

/* Parse a 0/1 environment flag into *out; one error line if bad. */
static void
env_flag(const char *name, int *out)
{
	const char *v = getenv(name);

	if (!v || !*v)
		return;
	if (strcmp(v, "0") == 0 || strcmp(v, "1") == 0)
		*out = v[0] - '0';
	else
		fprintf(stderr, "det: %s=%s: expected 0 or 1; ignored\n",
			name, v);
}

/* At the root's exit: detrun --stats and --trace. */
static void
det_report(void)
{
	const struct space_stats *s = space_stats();
	const char *path = getenv("DET_TRACE");
	int err;

	if (space_depth() != 0)
		return;
	if (getenv("DET_STATS"))
		fprintf(stderr, "det: stats: %llu forks, %llu joins, %llu "
			"pages dirty, %llu bytes merged, %llu conflicts, "
			"%.3f ms in merge\n",
			(unsigned long long)s->forks,
			(unsigned long long)s->joins,
			(unsigned long long)s->pages_dirty,
			(unsigned long long)s->bytes_merged,
			(unsigned long long)s->conflicts, s->merge_ns / 1e6);
	if (path && (err = space_trace_write(path)))
		fprintf(stderr, "det: --trace %s: %s\n", path,
			strerror(-err));
}

/* Read the DET_* settings before main (kern/ set itself up already). */
__attribute__((constructor(102))) static void
det_init(void)
{
	alloc_register();
	if (getenv("DET_STATS") || getenv("DET_TRACE"))
		atexit(det_report);
	env_flag("DET_QUIET", &det_config.quiet);
	env_flag("DET_APPLY_PARTIAL", &det_config.apply_partial);
	env_flag("DET_FALLBACK_LOCAL", &det_config.fallback_local);
}

/* see det.h */
int
det_fork(unsigned child, det_fn fn, void *arg)
{
	int r;

	if (child >= DET_MAX_CHILDREN || !fn || space_child_running(child))
		return DET_EINVAL;
	if (alloc_fork_prepare(child) < 0)
		return DET_ENOMEM;
	r = space_fork(child, fn, arg);
	if (r)
		alloc_fork_abort(child);
	return det_rc(r, NULL);
}

/* see det.h */
int
det_fork_on(unsigned child, unsigned node, det_fn fn, void *arg)
{
	if (node == DET_NODE_LOCAL)
		return det_fork(child, fn, arg);
	if (node > remote_nnodes() || child >= DET_MAX_CHILDREN || !fn ||
	    space_child_running(child))
		return DET_EINVAL;
	/* A child's own children run where it runs (see README). */
	if (space_depth() != 0)
		return det_fork(child, fn, arg);
	return remote_fork(child, node, fn, arg, det_fork);
}

/* det_join and det_sync: one body. */
static int
join_common(unsigned child, struct det_status *st, int sync)
{
	struct det_status local;
	struct space_opts o = {
		.quiet = det_config.quiet,
		.apply_partial = det_config.apply_partial,
	};

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	st->syscall_nr = -1;
	st->node = DET_NODE_LOCAL;
	int was, r;

	if (child >= DET_MAX_CHILDREN)
		return det_rc(-EINVAL, st);
	was = space_child_running(child);
	r = space_join(child, &o, st, sync);
	/* The child is gone: its heap becomes ours as far as a merge
	 * applied it; otherwise its address range returns. */
	if (was && !space_child_running(child))
		alloc_join_done(child);
	return remote_join_done(child, det_rc(r, st), st);
}

/* see det.h */
int
det_join(unsigned child, struct det_status *st)
{
	return join_common(child, st, 0);
}

/* see det.h */
int
det_sync(unsigned child, struct det_status *st)
{
	return join_common(child, st, 1);
}

/* see det.h */
void
det_exit(int code)
{
	space_exit(code);
}

/* see det.h */
int
det_barrier(void)
{
	/* space_barrier returns the kern result of the parent's merge (or
	 * its own error): the same mapping as the parent's det_sync. */
	return det_rc(space_barrier(), NULL);
}

/* see det.h */
unsigned
det_depth(void)
{
	return space_depth();
}

/* see det.h */
unsigned
det_self(void)
{
	return space_self();
}
