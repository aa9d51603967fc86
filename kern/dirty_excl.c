/*
 * dirty_excl.c -- backend "pagemap_excl": the "exclusively mapped" bit
 * (56) of /proc/self/pagemap.
 *
 * After fork every anonymous page of the child is shared with the
 * snapshot holder.  A page the child writes is copied for it and becomes
 * exclusive; a page the parent writes is copied for the parent, and the
 * child's copy stays shared with the holder.  So, with a holder alive,
 * "present and exclusive" means "written by this child".  Swapped-out
 * pages are reported too (over-reporting is safe).  Nothing to arm.
 */
#define KERN_INTERNAL
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dirty.h"

#define PM_PRESENT	(1ull << 63)
#define PM_SWAPPED	(1ull << 62)
#define PM_EXCLUSIVE	(1ull << 56)
#define EXCL_CHUNK	4096

/* Read the pagemap entries of n pages from va into e; 0 or -errno. */
static int
excl_read(int fd, uintptr_t va, uint64_t *e, size_t n)
{
	size_t want = n * sizeof(*e), got = 0;
	off_t off = (off_t)((va >> PAGE_SHIFT) * sizeof(*e));

	while (got < want) {
		ssize_t r = pread(fd, (char *)e + got, want - got,
				  off + (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		got += (size_t)r;
	}
	return 0;
}

static int
excl_begin(const struct regions *m, void **state)
{
	(void)m;
	*state = NULL;
	return 0;
}

static long
excl_collect(const struct regions *m, void *state, uint8_t *bitmap)
{
	uint64_t e[EXCL_CHUNK];
	long total = 0;
	size_t i, j;
	int fd, err;

	(void)state;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (i = 0; i < m->n; i++) {
		const struct region *r = &m->r[i];
		size_t np = (r->hi - r->lo) >> PAGE_SHIFT, done;

		for (done = 0; done < np; done += j) {
			size_t n = np - done < EXCL_CHUNK ? np - done
							  : EXCL_CHUNK;

			err = excl_read(fd, r->lo + (done << PAGE_SHIFT), e, n);
			if (err) {
				close(fd);
				return err;
			}
			for (j = 0; j < n; j++) {
				if ((e[j] & PM_SWAPPED) ||
				    (e[j] & (PM_PRESENT | PM_EXCLUSIVE)) ==
				    (PM_PRESENT | PM_EXCLUSIVE)) {
					dirty_bit_set(bitmap,
						      r->first + done + j);
					total++;
				}
			}
		}
	}
	close(fd);
	return total;
}

static void
excl_end(const struct regions *m, void *state)
{
	(void)m;
	(void)state;
}

/* Bit 56 of the page at p, or -errno. */
static int
excl_bit(int fd, void *p)
{
	uint64_t e;
	int err = excl_read(fd, (uintptr_t)p, &e, 1);

	if (err)
		return err;
	return (e & PM_EXCLUSIVE) != 0;
}

/*
 * Trial: a page shared with a forked process must read not-exclusive,
 * and exclusive again once we write it.
 */
static int
excl_probe(void)
{
	int fd, pfd[2], shared, mine, err = -ENOTSUP;
	char *p, c;
	pid_t pid;

	p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	p[0] = 1;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto err_unmap;
	if (pipe(pfd) < 0)
		goto err_close;
	pid = fork();
	if (pid < 0)
		goto err_pipe;
	if (pid == 0) {
		close(pfd[1]);
		(void)!read(pfd[0], &c, 1);
		_exit(0);
	}
	shared = excl_bit(fd, p);
	p[0] = 2;
	mine = excl_bit(fd, p);
	close(pfd[1]);
	pfd[1] = -1;
	waitpid(pid, NULL, 0);
	if (shared == 0 && mine == 1)
		err = 0;
err_pipe:
	close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
err_close:
	close(fd);
err_unmap:
	munmap(p, PAGE_SIZE);
	return err;
}

const struct dirty_ops dirty_excl_ops = {
	.name = "pagemap_excl",
	.needs_sole_owner = 1,
	.probe = excl_probe,
	.begin = excl_begin,
	.collect = excl_collect,
	.end = excl_end,
};
