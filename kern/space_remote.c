/*
 * space_remote.c -- what kern gives a remote worker (user/lib/remote.c):
 * a process on another machine that received a parent's memory image
 * and runs one child's fn as if it had been forked there.
 *
 * Image: space_image_map makes an address range of the image writable
 * in the worker (the executable's data and the [heap] exist already;
 * anonymous memory and the allocator's heap are mapped here), refusing
 * ranges that hold the worker's own runtime or library memory;
 * space_image_write copies image bytes in, skipping every byte that is
 * never merged (the runtime's, libc's, ld.so's, det_private): those stay
 * the worker's own, as they would in a forked child.
 *
 * Lazy image: space_worker_lazy picks the image ranges whose pages may
 * arrive while fn runs (anonymous memory a userfaultfd can watch),
 * empties them and hands a userfaultfd to the caller; the dirty
 * tracking registers them for missing-page faults on that same
 * userfaultfd, and the caller's handler process fills each page with
 * UFFDIO_COPY in write-protect mode: a page placed so reads as not
 * written, exactly as an image page copied in before the space began.
 *
 * Run: space_worker_begin makes the worker a child space (its place in
 * the tree, the sandbox, dirty tracking of its merged regions) whose
 * publishing goes to a hook instead of a parent; space_worker_dirty
 * lists what fn wrote.  The remote parent merges those pages exactly as
 * a local child's (the proxy child writes them into itself).
 *
 * Barrier: det_barrier calls the worker's hook, which ships the pages
 * written so far and installs the fresh snapshot the proxy sends back;
 * space_worker_resume then starts the space over from it.
 */
#define KERN_INTERNAL
#define LOG_PREFIX "remote: "
#include <assert.h>
#include <errno.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "dirty.h"
#include "log.h"
#include "sandbox.h"
#include "space.h"

/* 1 when [lo, hi) meets a range of s. */
static int
range_meets(const struct rt_rangeset *s, uintptr_t lo, uintptr_t hi)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->r[i].lo < hi && lo < s->r[i].hi)
			return 1;
	return 0;
}

/* see kern.h */
int
space_image_map(uintptr_t lo, uintptr_t hi)
{
	uintptr_t a;
	void *p;

	lo = PAGE_DOWN(lo);
	hi = PAGE_UP(hi);
	if (lo >= hi)
		return -EINVAL;
	if (range_meets(&rt->own, lo, hi) || range_meets(&rt->sys, lo, hi))
		return -EBUSY;
	if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE) == 0)
		return 0;	/* all of it mapped already */
	/* Page by page: whatever is there (data, heap, a PROT_NONE
	 * reservation) becomes read-write; holes get anonymous memory. */
	for (a = lo; a < hi; a += PAGE_SIZE) {
		if (mprotect((void *)a, PAGE_SIZE, PROT_READ | PROT_WRITE) == 0)
			continue;
		if (errno != ENOMEM)
			return -errno;
		p = mmap((void *)a, PAGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			 -1, 0);
		/* Mapped, yet mprotect said ENOMEM: a memory limit. */
		if (p == MAP_FAILED)
			return errno == EEXIST ? -ENOMEM : -errno;
	}
	return 0;
}

/* Copy [dst, dst+len) from src, leaving out the bytes in s. */
static void
copy_minus(uintptr_t dst, const uint8_t *src, size_t len,
	   const struct rt_rangeset *s)
{
	uintptr_t end = dst + len, lo = dst;
	size_t i;

	for (i = 0; i < s->n && lo < end; i++) {
		if (s->r[i].hi <= lo)
			continue;
		if (s->r[i].lo >= end)
			break;
		if (s->r[i].lo > lo)
			memcpy((void *)lo, src + (lo - dst), s->r[i].lo - lo);
		lo = s->r[i].hi;
	}
	if (lo < end)
		memcpy((void *)lo, src + (lo - dst), end - lo);
}

/* see kern.h */
int
space_image_direct(uintptr_t lo, uintptr_t hi)
{
	return !range_meets(&rt->own, lo, hi) &&
	       !range_meets(&rt->sys, lo, hi) &&
	       !range_meets(&rt->ignore, lo, hi);
}

/* see kern.h */
void
space_image_write(uintptr_t dst, const void *src, size_t len)
{
	uintptr_t hi = dst + len;

	if (!range_meets(&rt->own, dst, hi) &&
	    !range_meets(&rt->sys, dst, hi) &&
	    !range_meets(&rt->ignore, dst, hi)) {
		memcpy((void *)dst, src, len);
		return;
	}
	/* Rare: a page shared with runtime bytes.  One exclusion set at a
	 * time keeps this simple; bytes in none of them are copied by
	 * the last pass only if all three left them alone. */
	{
		struct rt_rangeset *all = rt_mmap(sizeof(*all), 0);
		size_t i;

		if (!all)
			return;
		*all = rt->own;
		for (i = 0; i < rt->sys.n; i++)
			rt_range_add(all, rt->sys.r[i].lo, rt->sys.r[i].hi);
		for (i = 0; i < rt->ignore.n; i++)
			rt_range_add(all, rt->ignore.r[i].lo,
				     rt->ignore.r[i].hi);
		copy_minus(dst, src, len, all);
		rt_munmap(all, sizeof(*all));
	}
}

/* The worker's backend: one that works inside a single process (not
 * pagemap_excl, which needs a snapshot holder). */
static const struct dirty_ops *
worker_backend(void)
{
	const char *force = getenv("DET_DIRTY");

	if (force && strcmp(force, "pagemap_excl") != 0)
		return dirty_select(force);
	if (dirty_scan_ops.probe() == 0)
		return &dirty_scan_ops;
	return &dirty_hash_ops;
}

/* see kern.h */
int
space_worker_prepare(void)
{
	rt->dirty = worker_backend();
	if (!rt->dirty)
		return -EINVAL;
	return sandbox_prepare();
}

/* 1 when [lo, hi) is memory a userfaultfd can watch for missing pages
 * (anonymous; not a file's private copy). */
static int
lazy_watchable(int uffd, uintptr_t lo, uintptr_t hi)
{
	struct uffdio_register reg = {
		.range = { .start = lo, .len = hi - lo },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	struct uffdio_range un = { .start = lo, .len = hi - lo };

	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
		return 0;
	ioctl(uffd, UFFDIO_UNREGISTER, &un);
	return 1;
}

/* see kern.h */
int
space_worker_lazy(int devfd, uintptr_t (*r)[2], size_t *n)
{
	size_t i, k = 0;
	int fd;

	if (!rt->dirty || !rt->dirty->lazy_ok)
		return -ENOTSUP;
	fd = dirty_scan_uffd(devfd);
	if (fd < 0)
		return fd;
	for (i = 0; i < *n; i++) {
		uintptr_t lo = r[i][0], hi = r[i][1];

		if (lo % PAGE_SIZE || hi % PAGE_SIZE || lo >= hi ||
		    !space_image_direct(lo, hi) ||
		    !lazy_watchable(fd, lo, hi))
			continue;
		/* Empty: a page the worker touched itself before the image
		 * came must fault like the others. */
		if (madvise((void *)lo, hi - lo, MADV_DONTNEED) < 0)
			continue;
		r[k][0] = lo;
		r[k][1] = hi;
		k++;
	}
	*n = k;
	rt->lazy_uffd = dup(fd) + 1;
	if (!rt->lazy_uffd) {
		close(fd);
		return -EMFILE;
	}
	rt->lazy = (const uintptr_t (*)[2])r;
	rt->nlazy = k;
	return fd;
}

/* see kern.h */
uint64_t
space_now_ns(void)
{
	return rt_now_ns();
}

/* see kern.h */
void
space_worker_abort(int worker)
{
	syscall(SYS_kill, worker, SIGKILL, RT_KEY);
}

/* see kern.h */
int
space_worker_pager_prepare(int uffd, int cache, const int *socks,
			   int nsocks)
{
	return sandbox_pager_prepare(uffd, cache, socks, nsocks,
				     (int)rt_getpid());
}

/* see kern.h */
int
space_worker_pager_enter(void)
{
	return sandbox_pager_enter();
}

/* see space.h */
void
space_lazy_fill(void)
{
	volatile const char *p;
	uintptr_t a;
	size_t i;

	for (i = 0; i < rt->nlazy; i++)
		for (a = rt->lazy[i][0]; a < rt->lazy[i][1]; a += PAGE_SIZE) {
			p = (volatile const char *)a;
			(void)*p;
		}
	rt->nlazy = 0;
}

/* see kern.h */
size_t
space_regions(uintptr_t (*out)[2], size_t max)
{
	size_t i;

	if (!rt->map)
		return 0;
	for (i = 0; i < rt->map->n && i < max; i++) {
		out[i][0] = rt->map->r[i].lo;
		out[i][1] = rt->map->r[i].hi;
	}
	return rt->map->n;
}

/* see kern.h */
int
space_worker_begin(const char *path, int report_sock,
		   void (*publish)(int code))
{
	const char *dot = strrchr(path, '.');
	size_t i;
	int err;

	if (!dot || strlen(path) >= sizeof(rt->path) || !rt->dirty)
		return -EINVAL;
	err = map_collect(&rt->map);
	if (err)
		return err;
	rt->bitmap_len = ((rt->map->npages + 7) / 8 + 8) / 8 * 8;
	rt->bitmap = rt_mmap(rt->bitmap_len, 0);
	if (!rt->bitmap)
		return -ENOMEM;
	rt_set_path(path);
	rt->self = (unsigned)strtoul(dot + 1, NULL, 10);
	for (rt->depth = 0, i = 0; path[i]; i++)
		rt->depth += path[i] == '.';
	rt->parent_sock = report_sock;
	rt->worker_publish = publish;
	rt->fresh.n = 0;
	rt->fresh.overflow = 0;
	memset(&rt->stats, 0, sizeof(rt->stats));
	err = rt->dirty->begin(rt->map, &rt->dirty_state);
	if (err)
		return err;
	/* No child_start hook: the layer above shipped its own state as
	 * the proxy child had it after that hook ran. */
	return sandbox_enter();
}

/* see kern.h */
long
space_worker_dirty(int (*cb)(uintptr_t lo, uintptr_t hi, void *ctx),
		   void *ctx)
{
	const struct regions *m = rt->map;
	long n, total = 0;
	size_t i, k;
	int err;

	memset(rt->bitmap, 0, rt->bitmap_len);
	n = rt->dirty->collect(m, rt->dirty_state, rt->bitmap);
	if (n < 0)
		return n;
	for (i = 0; i < m->n; i++) {
		const struct region *r = &m->r[i];
		size_t np = (r->hi - r->lo) >> PAGE_SHIFT, run = 0;

		for (k = 0; k <= np; k++) {
			if (k < np && dirty_bit_get(rt->bitmap, r->first + k)) {
				run++;
				continue;
			}
			if (!run)
				continue;
			err = cb(r->lo + ((k - run) << PAGE_SHIFT),
				 r->lo + (k << PAGE_SHIFT), ctx);
			if (err)
				return err;
			total += (long)run;
			run = 0;
		}
	}
	if (rt->fresh.overflow)
		return -ENOMEM;
	/* Memory the child's allocator mapped: whole (see kern.h). */
	for (i = 0; i < rt->fresh.n; i++) {
		err = cb(rt->fresh.r[i].lo, rt->fresh.r[i].hi, ctx);
		if (err)
			return err;
		total += (long)((rt->fresh.r[i].hi - rt->fresh.r[i].lo) >>
				PAGE_SHIFT);
	}
	return total;
}

/* see kern.h */
size_t
space_worker_fresh(uintptr_t (*out)[2], size_t max)
{
	size_t i;

	for (i = 0; i < rt->fresh.n && i < max; i++) {
		out[i][0] = rt->fresh.r[i].lo;
		out[i][1] = rt->fresh.r[i].hi;
	}
	return rt->fresh.n;
}

/* see kern.h */
void
space_stack_range(uintptr_t *lo, uintptr_t *hi)
{
	*lo = rt->depth ? rt->stack_lo : 0;
	*hi = rt->depth ? rt->stack_lo + RT_STACK_SIZE : 0;
}

/* see kern.h */
void
space_worker_set_barrier(int (*hook)(void))
{
	rt->worker_barrier = hook;
}

/* see kern.h */
void
space_worker_pause(void)
{
	if (rt->dirty_state)
		rt->dirty->end(rt->map, rt->dirty_state);
	rt->dirty_state = NULL;
}

/* see kern.h */
int
space_worker_resume(void)
{
	struct regions *m = NULL;
	size_t len;
	uint8_t *bm;
	int err;

	assert(rt->worker_publish && rt->dirty);
	err = map_collect(&m);
	if (err)
		return err;
	len = ((m->npages + 7) / 8 + 8) / 8 * 8;
	bm = rt_mmap(len, 0);
	if (!bm) {
		map_free(m);
		return -ENOMEM;
	}
	space_worker_pause();
	map_free(rt->map);
	rt_munmap(rt->bitmap, rt->bitmap_len);
	rt->map = m;
	rt->bitmap = bm;
	rt->bitmap_len = len;
	rt->fresh.n = 0;
	rt->fresh.overflow = 0;
	rt->nlazy = 0;
	return rt->dirty->begin(rt->map, &rt->dirty_state);
}

/* see kern.h */
int
space_worker_clear_output(int fd)
{
	if (syscall(SYS_ftruncate, fd, 0L, RT_KEY) < 0)
		return -errno;
	return lseek(fd, 0, SEEK_SET) < 0 ? -errno : 0;
}
