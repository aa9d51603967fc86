/*
 * dirty_scan.c -- backend "pagemap_scan": userfaultfd write-protect in
 * async mode plus the PAGEMAP_SCAN ioctl (Linux >= 6.7).
 *
 * begin() write-protects the merged regions through a userfaultfd in
 * WP_ASYNC mode: the kernel resolves the first write to each page itself
 * (no handler thread) and clears the page's uffd-wp bit; WP_UNPOPULATED
 * covers pages that are not yet present.  collect() asks PAGEMAP_SCAN for
 * the pages whose bit was cleared (PAGE_IS_WRITTEN).  The system headers
 * may predate these interfaces, so the structures are defined here.
 */
#define KERN_INTERNAL
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dirty.h"

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED	(1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC		(1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY		1
#endif

/* From linux/fs.h (6.7). */
struct scan_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

struct scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};

#define SCAN_IOCTL		_IOWR('f', 16, struct scan_arg)
#define SCAN_CHECK_WPASYNC	(1 << 1)
#define PAGE_IS_WRITTEN		(1 << 1)
#define SCAN_VEC		256

struct scan_state {
	int uffd;
	int pagemap;
};

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW	_IO(0xAA, 0x00)
#endif

/* Set up fd as a userfaultfd with async write-protect; fd, or -errno
 * (fd closed). */
static int
scan_uffd_api(int fd)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_ASYNC |
			    UFFD_FEATURE_WP_UNPOPULATED,
	};

	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Open a userfaultfd with async write-protect (user mode only: the
 * write-protect faults resolve themselves); -errno on failure. */
static int
scan_uffd_open(void)
{
	int fd = (int)syscall(SYS_userfaultfd,
			      O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);

	return fd < 0 ? -errno : scan_uffd_api(fd);
}

/* see dirty.h */
int
dirty_scan_uffd(int devfd)
{
	int fd;

	if (devfd >= 0)
		fd = ioctl(devfd, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	else
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	return fd < 0 ? -errno : scan_uffd_api(fd);
}

/* Also register the lazy ranges (rt->lazy, already write-protected as
 * part of their regions) for missing-page faults: the same context, so
 * this adds the mode.  0 or -errno. */
static int
scan_arm_lazy(int uffd)
{
	size_t i;

	for (i = 0; i < rt->nlazy; i++) {
		struct uffdio_register reg = {
			.range = { .start = rt->lazy[i][0],
				   .len = rt->lazy[i][1] - rt->lazy[i][0] },
			.mode = UFFDIO_REGISTER_MODE_MISSING |
				UFFDIO_REGISTER_MODE_WP,
		};

		if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
			return -errno;
	}
	return 0;
}

/* Register [lo, hi) for write-protect tracking and protect it. */
static int
scan_arm(int uffd, uintptr_t lo, uintptr_t hi)
{
	struct uffdio_register reg = {
		.range = { .start = lo, .len = hi - lo },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = {
		.range = { .start = lo, .len = hi - lo },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};

	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) < 0)
		return -errno;
	return 0;
}

/*
 * Mark in bitmap (from bit `first`) the written pages of [lo, hi).
 * Loops until the range is covered: walk_end is not trusted when the
 * vector fills up.  Returns pages marked or -errno.
 */
static long
scan_range(int pagemap, const struct region *r, uint8_t *bitmap)
{
	struct scan_region vec[SCAN_VEC];
	uintptr_t lo = r->lo, hi = r->hi;
	long count = 0;

	while (lo < hi) {
		struct scan_arg a = {
			.size = sizeof(a),
			.flags = SCAN_CHECK_WPASYNC,
			.start = lo,
			.end = hi,
			.vec = (uintptr_t)vec,
			.vec_len = SCAN_VEC,
			.category_mask = PAGE_IS_WRITTEN,
			.return_mask = PAGE_IS_WRITTEN,
		};
		long n = ioctl(pagemap, SCAN_IOCTL, &a);
		long i;

		if (n < 0)
			return -errno;
		for (i = 0; i < n; i++) {
			uintptr_t p;

			for (p = vec[i].start; p < vec[i].end; p += PAGE_SIZE) {
				dirty_bit_set(bitmap, r->first +
					      ((p - r->lo) >> PAGE_SHIFT));
				count++;
			}
		}
		if (n == SCAN_VEC)
			lo = vec[n - 1].end;
		else if (a.walk_end > lo && a.walk_end < hi)
			lo = a.walk_end;
		else
			break;
	}
	return count;
}

static int
scan_begin(const struct regions *m, void **state)
{
	struct scan_state *s;
	size_t i;
	int err, lazy;

	s = rt_mmap(sizeof(*s), 0);
	if (!s)
		return -ENOMEM;
	s->uffd = rt->lazy_uffd ? rt->lazy_uffd - 1 : scan_uffd_open();
	lazy = rt->lazy_uffd != 0;
	rt->lazy_uffd = 0;	/* s owns it now */
	if (s->uffd < 0) {
		err = s->uffd;
		goto err_free;
	}
	s->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (s->pagemap < 0) {
		err = -errno;
		goto err_uffd;
	}
	for (i = 0; i < m->n; i++) {
		err = scan_arm(s->uffd, m->r[i].lo, m->r[i].hi);
		if (err)
			goto err_pagemap;
	}
	if (lazy) {
		err = scan_arm_lazy(s->uffd);
		if (err)
			goto err_pagemap;
	}
	*state = s;
	return 0;

err_pagemap:
	close(s->pagemap);
err_uffd:
	close(s->uffd);
err_free:
	rt_munmap(s, sizeof(*s));
	return err;
}

static long
scan_collect(const struct regions *m, void *state, uint8_t *bitmap)
{
	struct scan_state *s = state;
	long total = 0;
	size_t i;

	for (i = 0; i < m->n; i++) {
		long n = scan_range(s->pagemap, &m->r[i], bitmap);

		if (n < 0)
			return n;
		total += n;
	}
	return total;
}

static void
scan_end(const struct regions *m, void *state)
{
	struct scan_state *s = state;

	(void)m;
	close(s->pagemap);
	close(s->uffd);
	rt_munmap(s, sizeof(*s));
}

/* Trial: two pages armed, one written; exactly that one must come back. */
static int
scan_probe(void)
{
	uint8_t bitmap[1] = { 0 };
	char *p;
	long n;

	p = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	p[0] = 1;
	n = dirty_trial(&dirty_scan_ops, p, 2, 1, bitmap);
	munmap(p, 2 * PAGE_SIZE);
	if (n < 0)
		return (int)n;
	return (n == 1 && bitmap[0] == 2) ? 0 : -ENOTSUP;
}

const struct dirty_ops dirty_scan_ops = {
	.name = "pagemap_scan",
	.lazy_ok = 1,
	.probe = scan_probe,
	.begin = scan_begin,
	.collect = scan_collect,
	.end = scan_end,
};
