/*
 * bjob_layer.c -- snapshot bases: hard-link clones of the tree.
 *
 * A base is immutable while mounted because nothing writes a tree file
 * in place during a build: jobs write through overlayfs (copy-up) and
 * merges replace files by rename.  So a clone costs a directory walk
 * and one link per file, not a copy.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bjob.h"

static void
newer(struct timespec *newest, const struct timespec *t)
{
	if (t->tv_sec > newest->tv_sec ||
	    (t->tv_sec == newest->tv_sec && t->tv_nsec > newest->tv_nsec))
		*newest = *t;
}

static int
times_of(int dirfd, const char *name, const struct stat *st)
{
	struct timespec t[2] = { st->st_atim, st->st_mtim };

	return utimensat(dirfd, name, t, AT_SYMLINK_NOFOLLOW);
}

/* see bjob.h */
DIR *
bjob_dir_open(int fd)
{
	int fd2 = dup(fd);
	DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;

	if (!d) {
		if (fd2 >= 0)
			close(fd2);
		return NULL;
	}
	rewinddir(d);	/* the dup shares the offset of an earlier walk */
	return d;
}

/* see bjob.h */
struct dirent *
bjob_dir_next(DIR *d, int fd, struct stat *st, int *err)
{
	struct dirent *e;

	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(fd, e->d_name, st, AT_SYMLINK_NOFOLLOW) < 0) {
			*err = -1;
			return NULL;
		}
		return e;
	}
	return NULL;
}

/* Clone directory src into (existing, empty) directory dst; recursive. */
static int
clone_level(int src, int dst, struct timespec *newest)
{
	DIR *d = bjob_dir_open(src);
	struct dirent *e;
	struct stat st;
	int rc = 0;

	if (!d)
		return -1;
	while (rc == 0 && (e = bjob_dir_next(d, src, &st, &rc))) {
		if (S_ISDIR(st.st_mode)) {
			int s2, d2;

			if (mkdirat(dst, e->d_name, st.st_mode & 07777) < 0)
				rc = -1;
			s2 = openat(src, e->d_name, O_RDONLY | O_DIRECTORY |
				    O_NOFOLLOW | O_CLOEXEC);
			d2 = openat(dst, e->d_name, O_RDONLY | O_DIRECTORY |
				    O_NOFOLLOW | O_CLOEXEC);
			if (rc == 0 && s2 >= 0 && d2 >= 0)
				rc = clone_level(s2, d2, newest);
			else
				rc = -1;
			/* jobs see the base's directories: same times */
			if (rc == 0)
				rc = times_of(dst, e->d_name, &st);
			if (s2 >= 0)
				close(s2);
			if (d2 >= 0)
				close(d2);
			continue;
		}
		if (newest && !S_ISLNK(st.st_mode))
			newer(newest, &st.st_mtim);
		if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))
			rc = linkat(src, e->d_name, dst, e->d_name, 0);
		else
			rc = mknodat(dst, e->d_name, st.st_mode, st.st_rdev);
	}
	closedir(d);
	return rc;
}

int
bjob_layer_clone(int tree_fd, int state_fd, const char *name,
		 struct timespec *newest)
{
	struct timespec dummy = { 0, 0 };
	struct stat st;
	int dst;

	if (mkdirat(state_fd, name, 0755) < 0)
		goto err;
	dst = openat(state_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dst < 0)
		goto err;
	if (clone_level(tree_fd, dst, newest ? newest : &dummy) < 0 ||
	    fstat(tree_fd, &st) < 0 || times_of(state_fd, name, &st) < 0) {
		close(dst);
		goto err;
	}
	close(dst);
	return 0;
err:
	fprintf(stderr, "detrun: build: cannot clone the tree into %s: %s\n",
		name, strerror(errno));
	return -1;
}

/* rm -rf of name under dirfd. */
int
bjob_layer_remove(int dirfd, const char *name)
{
	struct dirent *e;
	int fd, rc = 0;
	DIR *d;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			rc |= bjob_layer_remove(fd, e->d_name);
	closedir(d);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		rc = -1;
	return rc;
}
