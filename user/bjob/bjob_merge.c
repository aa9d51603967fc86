/*
 * bjob_merge.c -- merge a finished job's overlayfs upper dir into the
 * tree.
 *
 * Rules (DESIGN.md §3 applied to files): a new or changed file or
 * symlink replaces the tree's (a hard link of the layer's inode, renamed
 * into place, with the logical mtime epoch + join ns); a whiteout
 * deletes; an opaque directory replaces the tree's directory.  If a path
 * the job changed was also changed by a job joined after this one's fork
 * (their lifetimes overlap), it is a conflict unless both leave the same
 * bytes and mode (or both delete it).  Joins are atomic: every path is
 * checked before anything is applied.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "bjob.h"

#define TMPNAME ".detrun-merge.tmp"

struct merge_ctx {
	int snap, join, job;
	struct timespec mtime;		/* logical mtime of this join */
	struct bjob_index *ix;
	struct bjob_merge_stats *st;
	char *cpath;			/* conflict: path */
	size_t cpathlen;
	int *other;
};

static int
whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == 0;
}

static int
opaque(int dirfd, const char *name)
{
	char v[4] = "";
	char path[64];
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = getxattr(path, "trusted.overlay.opaque", v, sizeof(v));
	close(fd);
	return n > 0 && v[0] == 'y';
}

/* Same contents of two regular files (sizes already equal). */
static int
same_bytes(int da, const char *a, int db, const char *b)
{
	char x[65536], y[65536];
	int fa = openat(da, a, O_RDONLY | O_CLOEXEC);
	int fb = openat(db, b, O_RDONLY | O_CLOEXEC);
	ssize_t n, m;
	int same = fa >= 0 && fb >= 0;

	while (same) {
		n = read(fa, x, sizeof(x));
		m = read(fb, y, sizeof(y));
		if (n != m || n < 0 || memcmp(x, y, (size_t)n))
			same = 0;
		if (n <= 0)
			break;
	}
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return same;
}

/* Same type, mode and contents (bytes or link target)? */
static int
same_entry(int da, const char *a, const struct stat *sa, int db,
	   const char *b, const struct stat *sb)
{
	char la[4096], lb[4096];
	ssize_t n, m;

	if ((sa->st_mode & S_IFMT) != (sb->st_mode & S_IFMT) ||
	    (sa->st_mode & 07777) != (sb->st_mode & 07777))
		return 0;
	if (S_ISLNK(sa->st_mode)) {
		n = readlinkat(da, a, la, sizeof(la));
		m = readlinkat(db, b, lb, sizeof(lb));
		return n == m && n >= 0 && memcmp(la, lb, (size_t)n) == 0;
	}
	if (S_ISREG(sa->st_mode))
		return sa->st_size == sb->st_size &&
		       same_bytes(da, a, db, b);
	return sa->st_rdev == sb->st_rdev;
}

static int
subdir(int dirfd, const char *name)
{
	if (dirfd < 0)
		return -1;
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		      O_CLOEXEC);
}

typedef int (*entry_fn)(struct merge_ctx *c, int up, int tree,
			const char *name, const struct stat *st,
			const char *path);

/*
 * Call fn for every entry of upper dir `up` (tree: the tree's directory
 * at the same path, or -1); path is the directory's path in the tree
 * ("" at the top).  Stops at the first non-zero return.
 */
static int
walk(struct merge_ctx *c, int up, int tree, const char *dir, entry_fn fn)
{
	DIR *d = bjob_dir_open(up);
	char path[4096];
	struct dirent *e;
	struct stat st;
	int rc = 0;

	if (!d)
		return -1;
	while (rc == 0 && (e = bjob_dir_next(d, up, &st, &rc))) {
		snprintf(path, sizeof(path), "%s%s%s", dir, *dir ? "/" : "",
			 e->d_name);
		rc = fn(c, up, tree, e->d_name, &st, path);
	}
	closedir(d);
	return rc;
}

static int check_entry(struct merge_ctx *c, int up, int tree,
		       const char *name, const struct stat *st,
		       const char *path);

/* Recurse into directory name of both sides with fn. */
static int
descend(struct merge_ctx *c, int up, int tree, const char *name,
	const char *path, entry_fn fn)
{
	int u = subdir(up, name), t = subdir(tree, name), rc;

	if (u < 0)
		return -1;
	rc = walk(c, u, t, path, fn);
	close(u);
	if (t >= 0)
		close(t);
	return rc;
}

/* Phase 1: 1 if this entry conflicts with a later join, else 0. */
static int
check_entry(struct merge_ctx *c, int up, int tree, const char *name,
	    const struct stat *st, const char *path)
{
	struct stat ts;
	int other, exists;

	if (S_ISDIR(st->st_mode))
		return descend(c, up, tree, name, path, check_entry);
	if (bjob_index_get(c->ix, path, &other) <= c->snap)
		return 0;
	exists = tree >= 0 && fstatat(tree, name, &ts,
				      AT_SYMLINK_NOFOLLOW) == 0;
	if (whiteout(st) ? !exists :
	    exists && same_entry(up, name, st, tree, name, &ts))
		return 0;
	snprintf(c->cpath, c->cpathlen, "%s", path);
	*c->other = other;
	return 1;
}

/* The job copied the file up but left it as it was. */
static int
unchanged(struct merge_ctx *c, int up, int tree, const char *name,
	  const struct stat *st, const char *path)
{
	struct stat ts;
	int other;

	if (bjob_index_get(c->ix, path, &other) > c->snap ||
	    fstatat(tree, name, &ts, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	return ts.st_mtim.tv_sec == st->st_mtim.tv_sec &&
	       ts.st_mtim.tv_nsec == st->st_mtim.tv_nsec &&
	       same_entry(up, name, st, tree, name, &ts);
}

static int apply_entry(struct merge_ctx *c, int up, int tree,
		       const char *name, const struct stat *st,
		       const char *path);

/* A directory the job changed gets the join's logical mtime too. */
static int
dir_mtime(struct merge_ctx *c, int dirfd, const char *name)
{
	struct timespec t[2] = { c->mtime, c->mtime };

	return utimensat(dirfd, name, t, AT_SYMLINK_NOFOLLOW);
}

/* Apply a directory: make it (replacing a non-directory), recurse. */
static int
apply_dir(struct merge_ctx *c, int up, int tree, const char *name,
	  const struct stat *st, const char *path)
{
	struct stat ts;
	int have = fstatat(tree, name, &ts, AT_SYMLINK_NOFOLLOW) == 0;

	if (have && (!S_ISDIR(ts.st_mode) || opaque(up, name))) {
		if (bjob_layer_remove(tree, name) < 0)
			return -1;
		have = 0;
	}
	if (!have && mkdirat(tree, name, st->st_mode & 07777) < 0)
		return -1;
	c->st->dirs++;
	if (descend(c, up, tree, name, path, apply_entry) < 0)
		return -1;
	/* the layer's copy too: later jobs see the layer's directory */
	if (dir_mtime(c, up, name) < 0)
		return -1;
	return dir_mtime(c, tree, name);
}

/* Phase 2: apply one entry to the tree. */
static int
apply_entry(struct merge_ctx *c, int up, int tree, const char *name,
	    const struct stat *st, const char *path)
{
	struct timespec t[2] = { c->mtime, c->mtime };
	struct stat ts;
	int had;

	if (S_ISDIR(st->st_mode))
		return apply_dir(c, up, tree, name, st, path);
	if (whiteout(st)) {
		if (bjob_layer_remove(tree, name) < 0)
			return -1;
	} else {
		if (unchanged(c, up, tree, name, st, path))
			return 0;
		had = fstatat(tree, name, &ts, AT_SYMLINK_NOFOLLOW) == 0;
		if (had && S_ISDIR(ts.st_mode) &&
		    bjob_layer_remove(tree, name) < 0)
			return -1;
		if (had && S_ISREG(ts.st_mode))
			c->st->copied_up += (uint64_t)st->st_size;
		if (utimensat(up, name, t, AT_SYMLINK_NOFOLLOW) < 0)
			return -1;
		unlinkat(tree, TMPNAME, 0);
		if (linkat(up, name, tree, TMPNAME, 0) < 0 ||
		    renameat(tree, TMPNAME, tree, name) < 0)
			return -1;
		c->st->bytes += S_ISREG(st->st_mode) ?
			(uint64_t)st->st_size : 0;
	}
	c->st->files++;
	return bjob_index_put(c->ix, path, c->join, c->job);
}

int
bjob_merge(int tree_fd, int state_fd, const char *upper, int snap,
	   int join, int job, const struct timespec *epoch,
	   struct bjob_index *ix, struct bjob_merge_stats *st,
	   char *path, size_t pathlen, int *other)
{
	struct merge_ctx c = {
		.snap = snap, .join = join, .job = job, .ix = ix, .st = st,
		.cpath = path, .cpathlen = pathlen, .other = other,
	};
	int up, rc;

	c.mtime = *epoch;
	c.mtime.tv_nsec += join;
	c.mtime.tv_sec += c.mtime.tv_nsec / 1000000000;
	c.mtime.tv_nsec %= 1000000000;
	up = openat(state_fd, upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (up < 0)
		goto err;
	rc = walk(&c, up, tree_fd, "", check_entry);
	if (rc == 0)
		rc = walk(&c, up, tree_fd, "", apply_entry);
	if (rc == 0)
		rc = dir_mtime(&c, tree_fd, ".") | dir_mtime(&c, up, ".");
	close(up);
	if (rc < 0)
		goto err;
	return rc;
err:
	fprintf(stderr, "detrun: build: cannot merge %s into the tree: %s\n",
		upper, strerror(errno));
	return -1;
}
