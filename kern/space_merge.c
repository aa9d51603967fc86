/*
 * space_merge.c -- the join: merge a child's published pages.
 *
 * Two phases make the join atomic.  Phase 1 only reads: for each dirty
 * page it reads the fork-time snapshot from the holder; if the parent's
 * page still equals it, the page is the child's alone (COPY); otherwise
 * (BYTE) it reads the child's page and scans for conflicts.  Phase 2
 * runs only when there is no conflict (or apply_partial is set): COPY
 * pages are read from the child straight into place, BYTE pages get the
 * byte merge.  Pages the parent no longer maps writable are skipped.
 */
#define KERN_INTERNAL
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dirty.h"
#include "log.h"
#include "merge.h"
#include "space.h"

#define RUN_PAGES	64		/* pages per read */
#define PAGE_RUNS	(PAGE_SIZE / 2)	/* most conflict runs in a page */

enum { PG_SKIP, PG_COPY, PG_BYTE };

struct mctx {
	int cfd;		/* /proc/CHILD/mem */
	int sfd;		/* /proc/HOLDER/mem: the snapshot */
	int ppm;		/* /proc/self/pagemap, or -1 */
	int hpm;		/* /proc/HOLDER/pagemap, or -1 */
	struct regions *cur;	/* the caller's merged regions now */
	uint8_t *kind;		/* PG_* per bitmap index */
	uint8_t *sbuf;		/* RUN_PAGES snapshot pages */
	uint8_t *cbuf;		/* RUN_PAGES child pages */
	uint8_t *pbuf;		/* one parent page (sanitizer builds) */
	int touch;		/* our own tracking needs user writes */
	struct merge_run *runs;	/* PAGE_RUNS */
	struct det_status *st;
	uintptr_t conf_end;	/* end of the last conflict run */
};

/*
 * The merge reads and writes whole pages of the program's memory on
 * purpose.  Under AddressSanitizer those pages hold poisoned redzones,
 * so parent pages are accessed through these uninstrumented helpers
 * (and pread is called as a raw system call, not through the
 * sanitizer's interceptor).  Without ASan they cost nothing.
 */
#ifdef __SANITIZE_ADDRESS__
__attribute__((no_sanitize_address)) static void
raw_copy(uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = src[i];
}
#endif

/* Write a page's first byte to itself: a tracking backend sees it. */
__attribute__((no_sanitize_address)) static void
page_touch(uintptr_t a)
{
	volatile uint8_t *t = (uint8_t *)a;

	*t = *t;
}

/* The parent page at p as merge/ may read it. */
static const uint8_t *
parent_view(struct mctx *x, uintptr_t p)
{
#ifdef __SANITIZE_ADDRESS__
	raw_copy(x->pbuf, (const uint8_t *)p, PAGE_SIZE);
	return x->pbuf;
#else
	(void)x;
	return (const uint8_t *)p;
#endif
}

/* Byte-merge child page c over snapshot s into the parent page at p. */
static size_t
parent_apply(struct mctx *x, uintptr_t p, const uint8_t *s,
	     const uint8_t *c)
{
#ifdef __SANITIZE_ADDRESS__
	size_t n;

	raw_copy(x->pbuf, (const uint8_t *)p, PAGE_SIZE);
	n = merge_apply(x->pbuf, s, c, PAGE_SIZE);
	raw_copy((uint8_t *)p, x->pbuf, PAGE_SIZE);
	return n;
#else
	(void)x;
	return merge_apply((uint8_t *)p, s, c, PAGE_SIZE);
#endif
}

/* Read exactly len bytes at off; 0 or -errno (-EIO when short). */
static int
pread_full(int fd, void *buf, size_t len, uintptr_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = syscall(SYS_pread64, fd, (char *)buf + got,
				    len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		got += (size_t)n;
	}
	return 0;
}

/*
 * Bytes of page a that are never merged (rt->ignore) take the snapshot's
 * value in the child's copy c, so they neither apply nor conflict.
 * Returns 1 when the page has such bytes.
 */
static int
ignore_fix(uintptr_t a, uint8_t *c, const uint8_t *s)
{
	int hit = 0;
	size_t i;

	for (i = 0; i < rt->ignore.n; i++) {
		uintptr_t lo = rt->ignore.r[i].lo, hi = rt->ignore.r[i].hi;

		if (hi <= a || lo >= a + PAGE_SIZE)
			continue;
		lo = lo < a ? a : lo;
		hi = hi > a + PAGE_SIZE ? a + PAGE_SIZE : hi;
		if (c)
			memcpy(c + (lo - a), s + (lo - a), hi - lo);
		hit = 1;
	}
	return hit;
}

/* Record a conflicting run, joining it to the previous one if adjacent. */
static void
conflict_add(struct mctx *x, uintptr_t addr, size_t len)
{
	struct det_status *st = x->st;

	if (x->conf_end == addr && st->nconflicts > 0) {
		if (st->nconflicts <= 8)
			st->conflicts[st->nconflicts - 1].len += len;
	} else {
		if (st->nconflicts < 8) {
			st->conflicts[st->nconflicts].addr = addr;
			st->conflicts[st->nconflicts].len = len;
		}
		st->nconflicts++;
	}
	x->conf_end = addr + len;
}

/*
 * Mark in same[] the pages of [a, a + n pages) that the parent still
 * shares with the snapshot holder: the same physical page (pagemap
 * frame numbers, visible to root), so certainly unchanged since the
 * fork, with no need to read or compare them.  Returns how many.
 */
static size_t
shared_pages(struct mctx *x, uintptr_t a, size_t n, uint8_t *same)
{
	uint64_t pe[RUN_PAGES], he[RUN_PAGES], pfn = (1ull << 55) - 1;
	off_t off = (off_t)((a >> PAGE_SHIFT) * sizeof(uint64_t));
	size_t i, count = 0, len = n * sizeof(uint64_t);

	memset(same, 0, n);
	if (x->ppm < 0 || x->hpm < 0 ||
	    pread(x->ppm, pe, len, off) != (ssize_t)len ||
	    pread(x->hpm, he, len, off) != (ssize_t)len)
		return 0;
	for (i = 0; i < n; i++) {
		/* present (bit 63), same nonzero frame */
		if ((pe[i] >> 63) && (he[i] >> 63) && (pe[i] & pfn) &&
		    (pe[i] & pfn) == (he[i] & pfn)) {
			same[i] = 1;
			count++;
		}
	}
	return count;
}

typedef void (*byte_fn)(struct mctx *x, uintptr_t p, const uint8_t *s,
			const uint8_t *c);

/*
 * For the PG_BYTE pages among the n dirty pages at a (bitmap index k):
 * read the snapshot (unless sbuf has it already) and the child's copy,
 * neutralise the never-merged bytes, and call fn on each.  0 or -errno.
 */
static int
byte_pages(struct mctx *x, uintptr_t a, size_t k, size_t n, int have_snap,
	   byte_fn fn)
{
	size_t i;
	int err;

	err = have_snap ? 0 : pread_full(x->sfd, x->sbuf, n * PAGE_SIZE, a);
	if (!err)
		err = pread_full(x->cfd, x->cbuf, n * PAGE_SIZE, a);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		uintptr_t p = a + i * PAGE_SIZE;
		uint8_t *c = x->cbuf + i * PAGE_SIZE;
		const uint8_t *s = x->sbuf + i * PAGE_SIZE;

		if (x->kind[k + i] != PG_BYTE)
			continue;
		ignore_fix(p, c, s);
		fn(x, p, s, c);
	}
	return 0;
}

/* Phase 1 on a page both sides changed: record its conflicts. */
static void
scan_page(struct mctx *x, uintptr_t p, const uint8_t *s, const uint8_t *c)
{
	size_t j, nr;

	nr = merge_conflicts(s, c, parent_view(x, p), PAGE_SIZE, x->runs,
			     PAGE_RUNS);
	for (j = 0; j < nr; j++)
		conflict_add(x, p + x->runs[j].off, x->runs[j].len);
}

/* Phase 2 on a page both sides changed: take the child's bytes. */
static void
apply_page(struct mctx *x, uintptr_t p, const uint8_t *s, const uint8_t *c)
{
	x->st->bytes_merged += parent_apply(x, p, s, c);
}

/* Phase 1 for the n dirty pages at a (bitmap index k). */
static int
scan_run(struct mctx *x, uintptr_t a, size_t k, size_t n)
{
	uint8_t same[RUN_PAGES];
	int err, need_child = 0, have_snap = 0;
	size_t i;

	if (shared_pages(x, a, n, same) < n) {
		err = pread_full(x->sfd, x->sbuf, n * PAGE_SIZE, a);
		if (err)
			return err;
		have_snap = 1;
	}
	for (i = 0; i < n; i++) {
		uintptr_t p = a + i * PAGE_SIZE;
		const uint8_t *s = x->sbuf + i * PAGE_SIZE;

		if (!map_find(x->cur, p))
			x->kind[k + i] = PG_SKIP;
		else if (ignore_fix(p, NULL, s))
			x->kind[k + i] = PG_BYTE;
		else if (same[i] ||
			 merge_equal(parent_view(x, p), s, PAGE_SIZE))
			x->kind[k + i] = PG_COPY;
		else
			x->kind[k + i] = PG_BYTE;
		need_child |= x->kind[k + i] == PG_BYTE;
	}
	if (!need_child)
		return 0;
	return byte_pages(x, a, k, n, have_snap, scan_page);
}

/* Phase 2 for the n dirty pages at a (bitmap index k). */
static int
apply_run(struct mctx *x, uintptr_t a, size_t k, size_t n)
{
	size_t i, j, need_byte = 0;
	int err;

	for (i = 0; i < n; i = j) {
		uintptr_t p = a + i * PAGE_SIZE;

		need_byte |= x->kind[k + i] == PG_BYTE;
		for (j = i; j < n && x->kind[k + j] == PG_COPY; j++)
			if (x->touch)
				page_touch(a + j * PAGE_SIZE);
		if (j == i) {
			j++;
			continue;
		}
		err = pread_full(x->cfd, (void *)p, (j - i) * PAGE_SIZE, p);
		if (err)
			return err;
		x->st->bytes_merged += (j - i) * PAGE_SIZE;
	}
	if (!need_byte)
		return 0;
	return byte_pages(x, a, k, n, 0, apply_page);
}

typedef int (*run_fn)(struct mctx *x, uintptr_t a, size_t k, size_t n);

/* Call fn on every run of consecutive dirty pages of map. */
static int
for_each_run(struct mctx *x, const struct regions *map,
	     const uint8_t *bm, run_fn fn)
{
	size_t i, p, n, np;
	int err;

	for (i = 0; i < map->n; i++) {
		const struct region *r = &map->r[i];

		np = (r->hi - r->lo) >> PAGE_SHIFT;
		for (p = 0; p < np; p += n) {
			n = 0;
			while (p + n < np && n < RUN_PAGES &&
			       dirty_bit_get(bm, r->first + p + n))
				n++;
			if (n == 0) {
				n = 1;
				continue;
			}
			err = fn(x, r->lo + (p << PAGE_SHIFT), r->first + p, n);
			if (err)
				return err;
		}
	}
	return 0;
}

/*
 * Make the child's fresh ranges (see space_new_range) read-write here,
 * at the same addresses (reserved by the caller's allocator).  All or
 * nothing: 0, or -errno with every range put back.
 */
static int
fresh_map(const struct rt_rangeset *f)
{
	size_t i;
	int err;

	for (i = 0; i < f->n; i++) {
		if (mprotect((void *)f->r[i].lo, f->r[i].hi - f->r[i].lo,
			     PROT_READ | PROT_WRITE) < 0) {
			err = errno == ENOMEM ? -EFAULT : -errno;
			while (i-- > 0)
				mprotect((void *)f->r[i].lo,
					 f->r[i].hi - f->r[i].lo, PROT_NONE);
			return err;
		}
	}
	return 0;
}

/*
 * Copy the present pages of the child's fresh ranges into place (they
 * are the child's alone: no conflict is possible), and pass the ranges
 * on to our own parent when we are a child too.  0 or -errno.
 */
static int
fresh_copy(struct mctx *x, pid_t child, const struct rt_rangeset *f)
{
	uint64_t e[RUN_PAGES];
	char path[64];
	size_t i, j, n, k;
	uintptr_t a;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)child);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (i = 0; i < f->n && !err; i++) {
		for (a = f->r[i].lo; a < f->r[i].hi && !err;
		     a += n * PAGE_SIZE) {
			n = (f->r[i].hi - a) >> PAGE_SHIFT;
			n = n < RUN_PAGES ? n : RUN_PAGES;
			if (pread(fd, e, n * 8, (off_t)((a >> PAGE_SHIFT) * 8))
			    != (ssize_t)(n * 8)) {
				err = -EIO;
				break;
			}
			for (j = 0; j < n && !err; j = k) {
				for (k = j; k < n && (e[k] >> 62); k++)
					;
				if (k == j) {
					k++;
					continue;
				}
				err = pread_full(x->cfd,
						 (void *)(a + j * PAGE_SIZE),
						 (k - j) * PAGE_SIZE,
						 a + j * PAGE_SIZE);
				x->st->bytes_merged += (k - j) * PAGE_SIZE;
				x->st->pages_dirty += k - j;
			}
		}
		if (!err)
			err = space_new_range(f->r[i].lo, f->r[i].hi);
	}
	close(fd);
	return err;
}

/* Name the memory at addr for a conflict report. */
static void
describe(const struct regions *map, uintptr_t addr, char *buf, size_t len)
{
	const struct region *r;

	if (rt->describe_hook && rt->describe_hook(addr, buf, len) == 0)
		return;
	if (sym_describe(addr, buf, len) == 0)
		return;
	r = map_find(map, addr);
	snprintf(buf, len, "%s", !r ? "memory" :
		 r->kind == REGION_HEAP ? "heap memory" :
		 r->kind == REGION_EXE ? "program data" : "mapped memory");
}

/* Fill the `where` of the recorded conflicts and print them. */
static void
report(unsigned child, const struct regions *map, struct det_status *st,
       const struct space_opts *o)
{
	size_t i, n = st->nconflicts < 8 ? st->nconflicts : 8;

	for (i = 0; i < n; i++) {
		struct det_conflict *cf = &st->conflicts[i];

		describe(map, cf->addr, cf->where, sizeof(cf->where));
		if (!o->quiet)
			pr_report("conflict: %zu bytes at %#lx (%s) written by "
				  "child %u and by an earlier join/parent",
				  cf->len, (unsigned long)cf->addr, cf->where,
				  child);
	}
	if (!o->quiet && st->nconflicts > n)
		pr_report("conflict: ... and %zu more conflicting runs from "
			  "child %u", st->nconflicts - n, child);
	if (!o->quiet)
		pr_report("det: join of child %u: %s", child,
			  o->apply_partial ? "applied all but the conflicting "
			  "bytes" : "nothing of it applied");
}

/* Open /proc/PID/mem; the fd or -errno. */
int
space_open_mem(pid_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* see space.h */
int
merge_child(unsigned child, struct child *c, const struct msg *m,
	    const struct space_opts *o, struct det_status *st)
{
	struct mctx x = { .st = st, .cfd = -1, .sfd = -1, .ppm = -1,
			  .hpm = -1 };
	const struct rt_rangeset *fresh;
	char path[64];
	size_t bufs = (2 * RUN_PAGES + 1) * PAGE_SIZE +
		      PAGE_RUNS * sizeof(struct merge_run);
	int err;

	fresh = rt_fresh_area(c->bitmap, c->bitmap_len);
	if (fresh->n > RT_MAX_RANGES)
		return -EINVAL;
	st->pages_dirty = m->npages;
	if (m->npages == 0 && fresh->n == 0)
		return 0;
	x.cfd = space_open_mem(c->pid);
	if (x.cfd < 0)
		return x.cfd;
	x.sfd = space_open_mem(holder_pid(c));
	if (x.sfd < 0) {
		err = x.sfd;
		goto err_cfd;
	}
	x.touch = rt->depth > 0 && rt->dirty->user_writes_only;
	x.ppm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)holder_pid(c));
	x.hpm = open(path, O_RDONLY | O_CLOEXEC);
	err = map_collect(&x.cur);
	if (err)
		goto err_sfd;
	x.kind = rt_mmap(c->map->npages + 1, 0);
	x.sbuf = rt_mmap(bufs, 0);
	if (!x.kind || !x.sbuf) {
		err = -ENOMEM;
		goto err_mem;
	}
	x.cbuf = x.sbuf + RUN_PAGES * PAGE_SIZE;
	x.pbuf = x.cbuf + RUN_PAGES * PAGE_SIZE;
	x.runs = (struct merge_run *)(x.pbuf + PAGE_SIZE);

	err = for_each_run(&x, c->map, c->bitmap, scan_run);
	if (err)
		goto err_mem;
	if (st->nconflicts == 0 || o->apply_partial) {
		err = fresh_map(fresh);
		if (err)
			goto err_mem;
		err = for_each_run(&x, c->map, c->bitmap, apply_run);
		if (!err)
			err = fresh_copy(&x, c->pid, fresh);
		if (err)
			goto err_mem;
	}
	if (st->nconflicts) {
		report(child, c->map, st, o);
		err = SPACE_ECONFLICT;
	}
err_mem:
	rt_munmap(x.sbuf, bufs);
	rt_munmap(x.kind, c->map->npages + 1);
	map_free(x.cur);
err_sfd:
	if (x.ppm >= 0)
		close(x.ppm);
	if (x.hpm >= 0)
		close(x.hpm);
	close(x.sfd);
err_cfd:
	close(x.cfd);
	return err;
}
