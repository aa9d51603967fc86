/*
 * dirty_mprotect.c -- backend "mprotect": the portable fallback.
 *
 * begin() makes the merged regions read-only; the first write to a page
 * raises SIGSEGV, whose handler records the page and makes it writable
 * again.  If the kernel refuses to split the mapping further (the
 * vm.max_map_count limit), the whole region is unprotected and reported
 * dirty: more merge work, never a missed page.  Limitation: a system call
 * that writes into a still-protected page (read(2) into a buffer in
 * merged memory) fails with EFAULT instead of faulting.
 */
#define KERN_INTERNAL
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include "dirty.h"
#include "sandbox.h"

struct mprot_state {
	const struct regions *m;
	size_t bytes;
	struct sigaction old;
	uint8_t bm[];		/* pages made writable so far */
};

/* Give up on fine tracking of r: writable, every page dirty. */
static int
mprot_whole_region(struct mprot_state *s, const struct region *r)
{
	size_t k;

	if (mprotect((void *)r->lo, r->hi - r->lo, PROT_READ | PROT_WRITE))
		return -1;
	for (k = 0; k < (r->hi - r->lo) >> PAGE_SHIFT; k++)
		dirty_bit_set(s->bm, r->first + k);
	return 0;
}

/*
 * SIGSEGV: a first write to a tracked page is recorded and let through;
 * anything else is a real crash, delivered with the default action when
 * the faulting instruction runs again.
 */
static void
mprot_handler(int sig, siginfo_t *si, void *uc)
{
	struct mprot_state *s = rt->dirty_state;
	uintptr_t a = (uintptr_t)si->si_addr, page = PAGE_DOWN(a);
	const struct region *r;
	int saved = errno;
	size_t k;

	if (si->si_code > 0 && sandbox_tsc_fault(uc))
		return;
	r = s ? map_find(s->m, a) : NULL;
	if (!r || si->si_code != SEGV_ACCERR)
		goto crash;
	k = r->first + ((page - r->lo) >> PAGE_SHIFT);
	if (dirty_bit_get(s->bm, k))
		goto crash;
	if (mprotect((void *)page, PAGE_SIZE, PROT_READ | PROT_WRITE) == 0)
		dirty_bit_set(s->bm, k);
	else if (mprot_whole_region(s, r) < 0)
		goto crash;
	errno = saved;
	return;
crash:
	/* A fault re-runs the instruction and dies; a signal that was
	 * sent (raise, kill) must be sent again. */
	signal(sig, SIG_DFL);
	if (si->si_code <= 0)
		raise(sig);
	errno = saved;
}

static int
mprot_begin(const struct regions *m, void **state)
{
	struct sigaction sa;
	struct mprot_state *s;
	size_t bytes = sizeof(*s) + (m->npages + 7) / 8, i;
	int err;

	s = rt_mmap(bytes, 0);
	if (!s)
		return -ENOMEM;
	s->m = m;
	s->bytes = bytes;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = mprot_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &s->old) < 0) {
		err = -errno;
		goto err_free;
	}
	rt->dirty_state = s;
	for (i = 0; i < m->n; i++) {
		if (mprotect((void *)m->r[i].lo, m->r[i].hi - m->r[i].lo,
			     PROT_READ) < 0) {
			err = -errno;
			goto err_unprotect;
		}
	}
	*state = s;
	return 0;

err_unprotect:
	while (i-- > 0)
		mprotect((void *)m->r[i].lo, m->r[i].hi - m->r[i].lo,
			 PROT_READ | PROT_WRITE);
	sigaction(SIGSEGV, &s->old, NULL);
	rt->dirty_state = NULL;
err_free:
	rt_munmap(s, bytes);
	return err;
}

static long
mprot_collect(const struct regions *m, void *state, uint8_t *bitmap)
{
	struct mprot_state *s = state;
	size_t i, nbytes = (m->npages + 7) / 8;
	long total = 0;

	for (i = 0; i < nbytes; i++) {
		bitmap[i] |= s->bm[i];
		total += __builtin_popcount(s->bm[i]);
	}
	return total;
}

static void
mprot_end(const struct regions *m, void *state)
{
	struct mprot_state *s = state;
	size_t i;

	for (i = 0; i < m->n; i++)
		mprotect((void *)m->r[i].lo, m->r[i].hi - m->r[i].lo,
			 PROT_READ | PROT_WRITE);
	sigaction(SIGSEGV, &s->old, NULL);
	rt->dirty_state = NULL;
	rt_munmap(s, s->bytes);
}

/* Trial: a protected page's first write must reach the handler. */
static int
mprot_probe(void)
{
	uint8_t bitmap[1] = { 0 };
	void *saved = rt->dirty_state;
	char *p;
	long n;

	p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	n = dirty_trial(&dirty_mprotect_ops, p, 1, 0, bitmap);
	rt->dirty_state = saved;
	munmap(p, PAGE_SIZE);
	if (n < 0)
		return (int)n;
	return (n == 1 && bitmap[0] == 1) ? 0 : -ENOTSUP;
}

const struct dirty_ops dirty_mprotect_ops = {
	.name = "mprotect",
	.user_writes_only = 1,
	.probe = mprot_probe,
	.begin = mprot_begin,
	.collect = mprot_collect,
	.end = mprot_end,
};
