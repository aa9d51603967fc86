/*
 * space_output.c -- a child's stdout and stderr, captured and written at
 * its join, in join order.
 *
 * At fork the parent makes two unnamed files (O_TMPFILE on disk, so 100
 * MiB of output costs no memory; memfd inside a sandboxed space, which
 * may not create files) and the child writes to them as its fds 1 and 2.
 * At join (or sync) the parent flushes its own stdio, then copies them to
 * its own fds 1 and 2 -- before any conflict or crash report about that
 * child, so a crashed child's output is still shown, first.  Nested
 * spaces compose: a grandchild's output reaches the child's files at the
 * child's join, and so on up.  Within one child, stdout and stderr are
 * kept apart: its stderr follows its stdout.
 */
#define KERN_INTERNAL
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "space.h"

/* An unnamed, empty file for captured output; the fd or -errno. */
static int
output_file(void)
{
	const char *dirs[] = { getenv("TMPDIR"), "/var/tmp", "/tmp" };
	size_t i;
	int fd;

	if (rt->noutpool)
		return rt->outpool[--rt->noutpool];
	if (!rt->sandboxed) {
		for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
			if (!dirs[i])
				continue;
			fd = open(dirs[i], O_TMPFILE | O_RDWR | O_CLOEXEC,
				  0600);
			if (fd >= 0)
				return fd;
		}
	}
	fd = memfd_create("det-output", MFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* see space.h */
int
output_prepare(struct child *c)
{
	c->out_fd = output_file();
	if (c->out_fd < 0)
		return c->out_fd;
	c->err_fd = output_file();
	if (c->err_fd < 0) {
		close(c->out_fd);
		c->out_fd = -1;
		return c->err_fd;
	}
	return 0;
}

/* see space.h */
int
output_redirect(const struct child *c)
{
	if (dup2(c->out_fd, STDOUT_FILENO) < 0 ||
	    dup2(c->err_fd, STDERR_FILENO) < 0)
		return -errno;
	return 0;
}

/* Copy all of file src to fd dst (a pipe, a tty or a file). */
static void
output_copy(int src, int dst)
{
	char buf[65536];
	struct stat sb;
	off_t off = 0;
	ssize_t n;

	if (fstat(src, &sb) < 0)
		return;
	while (off < sb.st_size) {
		n = sendfile(dst, src, &off, (size_t)(sb.st_size - off));
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	/* sendfile refused (e.g. an O_APPEND file): copy by hand. */
	while (off < sb.st_size) {
		n = pread(src, buf, sizeof(buf), off);
		if (n <= 0)
			return;
		if (write(dst, buf, (size_t)n) != n)
			return;
		off += n;
	}
}

/*
 * Keep an emptied capture file for the next fork (making one on disk
 * costs tens of microseconds), or close it.  Only files nobody else can
 * still write: the caller says so.
 */
static void
output_recycle(int fd, int reusable)
{
	if (reusable && !rt->sandboxed && rt->noutpool < RT_MAX_OUTPOOL &&
	    ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0)
		rt->outpool[rt->noutpool++] = fd;
	else
		close(fd);
}

/* see space.h */
void
output_emit(struct child *c, int reusable)
{
	if (c->out_fd < 0)
		return;
	fflush(stdout);
	fflush(stderr);
	output_copy(c->out_fd, STDOUT_FILENO);
	output_copy(c->err_fd, STDERR_FILENO);
	/* Each file is emitted once: a space resumed after a barrier gets
	 * new ones. */
	output_recycle(c->out_fd, reusable);
	output_recycle(c->err_fd, reusable);
	c->out_fd = c->err_fd = -1;
}

/* see space.h */
void
output_forget_pool(void)
{
	while (rt->noutpool)
		close(rt->outpool[--rt->noutpool]);
}

/* see space.h */
void
output_close(struct child *c)
{
	if (c->out_fd >= 0)
		close(c->out_fd);
	if (c->err_fd >= 0)
		close(c->err_fd);
	c->out_fd = c->err_fd = -1;
}
