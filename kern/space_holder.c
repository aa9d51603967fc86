/*
 * space_holder.c -- snapshot holders, shared and reused.
 *
 * A holder is a process forked from a parent at det_fork that does
 * nothing: it keeps the fork-time memory (copy-on-write, so for free
 * until somebody writes) readable through /proc/HOLDER/mem for the 3-way
 * merge.  One holder serves every child forked while the parent's merged
 * memory is unchanged: before a fork, the current holder is checked
 * against the parent -- same regions, and every page the same physical
 * frame (pagemap, readable by root) or absent in both -- and reused if
 * it still matches; otherwise a new one is forked.  A holder lives while
 * children use it; the current one is kept after the last join, so a
 * loop of fork/join rounds over unchanged memory forks no holder at all.
 * The price: while it lives, the parent's first write to each page takes
 * a copy-on-write fault.
 *
 * Patching.  A parent writes a few pages between rounds (the allocator's
 * heap header at each join, a counter), and each such page used to cost
 * a new holder: a whole fork.  An idle holder (no running child uses it)
 * whose pages differ from the parent's in at most RT_HOLDER_PATCH pages
 * is brought up to date instead: the parent writes those pages into it
 * through /proc/HOLDER/mem.  A written page no longer shares a frame
 * with the parent (and the parent may then change it in place, frame
 * unchanged), so the holder remembers each one with the xxh3 hash of
 * what it wrote, and later checks compare content, not frames.  Not
 * with the pagemap_excl backend (see holder_valid).
 */
#define KERN_INTERNAL
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xxhash.h>

#include "dirty.h"
#include "space.h"

#define PM_CHUNK	512
#define PM_PRESENT	(1ull << 63)
#define PM_SWAPPED	(1ull << 62)
#define PM_PFN		((1ull << 55) - 1)

/*
 * The holder itself: every signal but SIGKILL blocked, no descriptor but
 * the read end of a pipe whose write end its parent holds; it exits when
 * the parent closes it (no kill(2): children are sandboxed) or dies.
 */
static void __attribute__((noreturn))
holder_main(pid_t parent, int rfd)
{
	sigset_t all;
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (rt_getppid() != parent)
		_exit(0);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	if (rfd > 0)
		close_range(0, (unsigned)rfd - 1, 0);
	close_range((unsigned)rfd + 1, ~0U, 0);
	while (read(rfd, &c, 1) != 0)
		;
	_exit(0);
}

/* 1 when every region of m lies inside a region of h (both sorted). */
static int
regions_within(const struct regions *m, const struct regions *h)
{
	size_t i, j = 0;

	for (i = 0; i < m->n; i++) {
		while (j < h->n && h->r[j].hi <= m->r[i].lo)
			j++;
		if (j == h->n || h->r[j].lo > m->r[i].lo ||
		    h->r[j].hi < m->r[i].hi)
			return 0;
	}
	return 1;
}

/* 1 when the pagemap entries a (ours) and b (the holder's) show the
 * same content for certain. */
static int
same_page(uint64_t a, uint64_t b)
{
	if ((a | b) & PM_SWAPPED)
		return 0;
	if (!(a & PM_PRESENT) && !(b & PM_PRESENT))
		return 1;
	return (a & PM_PRESENT) && (b & PM_PRESENT) && (a & PM_PFN) &&
	       (a & PM_PFN) == (b & PM_PFN);
}

/* The entry of h's patch list for page, or NULL. */
static struct holder_patch *
patch_find(const struct holder *h, uintptr_t page)
{
	size_t i;

	for (i = 0; i < h->npatch; i++)
		if (h->patch[i].page == page)
			return &h->patch[i];
	return NULL;
}

/* Does page (of the caller) hold what was written into h's copy? */
static int
patch_current(const struct holder *h, uintptr_t page)
{
	const struct holder_patch *e = patch_find(h, page);

	return e && XXH3_64bits((const void *)page, PAGE_SIZE) == e->hash;
}

/*
 * Write the caller's pages todo[0..n) into idle holder h and remember
 * them; 0, or -1 (the holder is then unusable).
 */
static int
holder_patch(struct holder *h, const uintptr_t *todo, size_t n)
{
	struct holder_patch *e;
	char path[64];
	size_t i;
	int fd, err = 0;

	if (!h->patch && !(h->patch = rt_mmap(RT_HOLDER_PATCH *
					      sizeof(*h->patch), 0)))
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)h->pid);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (i = 0; i < n && !err; i++) {
		/* the raw call: whole pages of program memory, which a
		 * sanitizer's pwrite would check against its redzones */
		if (syscall(SYS_pwrite64, fd, (const void *)todo[i],
			    PAGE_SIZE, (off_t)todo[i]) != (long)PAGE_SIZE) {
			err = -1;
			break;
		}
		e = patch_find(h, todo[i]);
		if (!e)
			e = &h->patch[h->npatch++];
		e->page = todo[i];
		e->hash = XXH3_64bits((const void *)todo[i], PAGE_SIZE);
	}
	close(fd);
	return err;
}

/*
 * Does holder h still show exactly the caller's merged memory m?
 * Compares pagemaps region by region (a page written into h by
 * holder_patch: by content).  An idle holder that differs in few pages
 * is patched and then valid.  Any doubt (unreadable frame numbers, a
 * read error) is "no".
 */
static int
holder_valid(struct holder *h, const struct regions *m)
{
	uint64_t a[PM_CHUNK], b[PM_CHUNK];
	uintptr_t todo[RT_HOLDER_PATCH], p, page;
	size_t i, k, n, ntodo = 0;
	int fa, fb, ok = 0;
	char path[64];
	/* pagemap_excl tells a child's writes by pages it no longer shares:
	 * a page written into the holder is shared by parent and child
	 * only, and would look written by the child once the parent
	 * changes it */
	int patchable = !rt->dirty || !rt->dirty->needs_sole_owner;

	if (!regions_within(m, h->map))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)h->pid);
	fa = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	fb = open(path, O_RDONLY | O_CLOEXEC);
	if (fa < 0 || fb < 0)
		goto out;
	for (i = 0; i < m->n; i++) {
		for (p = m->r[i].lo; p < m->r[i].hi; p += n * PAGE_SIZE) {
			off_t off = (off_t)((p >> PAGE_SHIFT) * 8);

			n = (m->r[i].hi - p) >> PAGE_SHIFT;
			n = n < PM_CHUNK ? n : PM_CHUNK;
			if (pread(fa, a, n * 8, off) != (ssize_t)(n * 8) ||
			    pread(fb, b, n * 8, off) != (ssize_t)(n * 8))
				goto out;
			for (k = 0; k < n; k++) {
				page = p + k * PAGE_SIZE;
				if (same_page(a[k], b[k]) ||
				    patch_current(h, page))
					continue;
				/* Only an idle holder may change, and only
				 * while its list has room. */
				if (!patchable || h->refs ||
				    !(a[k] & PM_PFN) ||
				    h->npatch + ntodo >= RT_HOLDER_PATCH)
					goto out;
				todo[ntodo++] = page;
			}
		}
	}
	ok = ntodo == 0 || holder_patch(h, todo, ntodo) == 0;
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return ok;
}

/* End holder h (its memory goes with it) and free its slot. */
static void
holder_kill(struct holder *h)
{
	close(h->wfd);
	space_reap_later(h->pid);
	map_free(h->map);
	rt_munmap(h->patch, RT_HOLDER_PATCH * sizeof(*h->patch));
	memset(h, 0, sizeof(*h));
}

/*
 * Give child slot c (whose merged regions c->map were just collected) a
 * holder of the caller's memory as of now: the current one if it still
 * matches, else a new one.  0 or -errno.
 */
int
holder_get(struct child *c)
{
	struct holder *h = rt->hcur >= 0 ? &rt->holders[rt->hcur] : NULL;
	pid_t self = rt_getpid(), pid;
	int i, p[2];

	if (h && holder_valid(h, c->map)) {
		h->refs++;
		c->holder = rt->hcur;
		return 0;
	}
	if (h && h->refs == 0)
		holder_kill(h);
	rt->hcur = -1;
	for (i = 0; i < RT_MAX_HOLDERS && rt->holders[i].pid; i++)
		;
	if (i == RT_MAX_HOLDERS)
		return -ENOMEM;
	h = &rt->holders[i];
	h->map = rt_mmap(c->map->bytes, 0);
	if (!h->map)
		return -ENOMEM;
	memcpy(h->map, c->map, c->map->bytes);
	if (pipe2(p, O_CLOEXEC) < 0)
		goto err_map;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		goto err_map;
	}
	if (pid == 0)
		holder_main(self, p[0]);
	close(p[0]);
	h->wfd = p[1];
	h->pid = pid;
	h->refs = 1;
	rt->hcur = i;
	c->holder = i;
	return 0;

err_map:
	map_free(h->map);
	h->map = NULL;
	return errno == EAGAIN ? -ENOMEM : -errno;
}

/* Child slot c no longer needs its holder. */
void
holder_put(struct child *c)
{
	struct holder *h;

	if (c->holder < 0)
		return;
	h = &rt->holders[c->holder];
	c->holder = -1;
	if (!h->pid)		/* forgotten: a parent's holder */
		return;
	if (--h->refs == 0 && h != &rt->holders[rt->hcur])
		holder_kill(h);
}

/* The pid of child slot c's holder. */
pid_t
holder_pid(const struct child *c)
{
	return c->holder >= 0 ? rt->holders[c->holder].pid : -1;
}

/* In a new space: the parent's holders are not ours (they end with the
 * parent); drop our copies of their pipes. */
void
holder_forget(void)
{
	int i;

	for (i = 0; i < RT_MAX_HOLDERS; i++)
		if (rt->holders[i].pid)
			close(rt->holders[i].wfd);
	memset(rt->holders, 0, sizeof(rt->holders));
	rt->hcur = -1;
}

/* End every holder of ours now and wait until they are gone (their
 * memory released): see dirty_ops.needs_sole_owner. */
void
holder_end_all(void)
{
	int i;

	for (i = 0; i < RT_MAX_HOLDERS; i++)
		if (rt->holders[i].pid)
			holder_kill(&rt->holders[i]);
	rt->hcur = -1;
	space_reap(1);
}
