/*
 * bjob_sup.c -- the build supervisor: `detrun --build -- make -jN`.
 *
 * Runs the program with detdrv.c preloaded.  Every make started under
 * it (not inside a job) is a *driver*: detdrv re-executes it with `-j`
 * (no limit: make never waits for a slot, so it has no jobserver and no
 * timing-dependent choice of what to start) and SHELL=detsh, connects
 * to us, reports each child it spawns (FORK) and asks us before each
 * wait (WAIT).  det owns the number of running jobs: a job's detsh waits
 * for one of N run tokens (N from the first make's -jN), oldest first.
 *
 * Determinism argument.  At any time one driver is *active*: a driver
 * whose recipe runs a sub-make (a recursive job) is let to run it only
 * once it blocks waiting for that job, and stays blocked until it ends.
 * Joins (merges into the tree) happen only while the active driver is
 * blocked in a blocking wait, so the join count when its FORK (or, if it
 * comes first, the child's HELLO) arrives is the count at the fork: the
 * job's snapshot.  A blocking wait is answered with the oldest unreaped
 * child (in FORK order), after it finished and its files were merged; a
 * WNOHANG wait with children not yet reaped is answered "none finished".
 * So make sees the same sequence of events on every run, whatever the
 * real timing; and every job sees the tree as of its fork.
 *
 * Snapshots: join n adds layer l<n> (the job's upper dir, renamed).  A
 * base b<n> is a hard-link clone of the tree: taken when a driver
 * starts and when a recursive job ends (what ran outside job spaces --
 * configure, the sub-make's own recipe line -- may have changed the
 * tree directly), and every COMPACT joins, so a job's overlay never has
 * more than COMPACT + 1 lower layers (overlayfs allows 500).
 *
 * (A seccomp user-notification filter on make's wait4/clone was tried
 * first: it is inherited by every process of the build, and a signal
 * arriving while a notified clone waits for the supervisor makes the
 * clone fail with EINTR -- dash printed "Cannot fork".)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "bjob.h"

#define COMPACT		64	/* joins between two bases at most */
#define MAX_LIVE	4096	/* jobs registered and not yet reaped */
#define MAX_DRV		64	/* drivers at once (make recursion depth) */

enum job_state {
	J_NEW,		/* connected, no HELLO yet */
	J_FORKED,	/* make reported it, no HELLO yet */
	J_WAITING,	/* registered, waiting for a run token */
	J_RUNNING,	/* holds a token (or runs a sub-make) */
	J_DONE,		/* recipe finished, not merged */
	J_DEAD,		/* detsh went away without DONE */
	J_JOINED,	/* merged, ACK sent; detsh exiting */
	J_REAPED,	/* make was let to reap it */
};

struct drv;

struct job {
	int id;			/* registration number: its dir j<id> */
	long seq;		/* fork order: the number in reports */
	struct drv *drv;	/* the make that spawned it */
	pid_t pid, ppid;
	int conn, pidfd;
	int snap;		/* joins done at its fork */
	enum job_state state;
	int status;		/* raw wait status of the recipe */
	int cap;		/* BJOB_CAP_* */
	char *cmd;
	struct timespec done_at;
};

/* A make: its connection and the blocking wait it is in, if any. */
struct drv {
	pid_t pid;
	int conn;
	int waiting;		/* blocked in a WAIT */
	pid_t target;		/* its pid argument (-1: any) */
};

/* Per join: what later snapshots stack. */
struct join_info {
	char empty;		/* layer l<n> changes nothing */
	char base;		/* b<n> exists: stack stops there */
};

struct sup {
	char tree[PATH_MAX], state[PATH_MAX];
	char view[PATH_MAX];	/* where the build sees the tree */
	int tree_fd, state_fd, lsock, top_pidfd, rand_fd;
	pid_t top;		/* the program detrun runs */
	struct drv *drv[MAX_DRV];
	int ndrv;
	long fork_seq;
	struct job *live[MAX_LIVE];
	int nlive, next_id, tokens, running, joins, last_base;
	struct join_info *ji;	/* per join number */
	size_t ji_cap;
	char **cmds;		/* per job seq: command line */
	size_t cmd_cap;
	struct bjob_index *ix;
	struct bjob_merge_stats ms;
	struct timespec epoch;	/* the clock jobs see */
	struct timespec mtimes;	/* merged files: this + join ns */
	struct timespec started;	/* real time detrun started */
	int conflicts, internal, jobs, bases, reused;
	int usage;		/* setup refused the build path: exit 2 */
	double merge_ms, hol_ms;
};

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	interrupted = sig;
}

static double
now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	va_list ap;

	fputs("detrun: build: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
msg_send(int conn, uint32_t type, int arg, const char *text)
{
	struct bjob_msg m = { .type = type, .arg = arg };

	snprintf(m.text, sizeof(m.text), "%s", text ? text : "");
	return send(conn, &m, sizeof(m) - sizeof(m.text) +
		    strlen(m.text) + 1, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static void
job_free(struct sup *s, int i)
{
	struct job *j = s->live[i];

	if (j->conn >= 0)
		close(j->conn);
	if (j->pidfd >= 0)
		close(j->pidfd);
	free(j->cmd);
	free(j);
	s->live[i] = s->live[--s->nlive];
}

/* Grow a per-index byte or pointer array to hold index n. */
static int
reserve(void **arr, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap : 256;
	void *p;

	if (n < *cap)
		return 0;
	while (c <= n)
		c *= 2;
	p = realloc(*arr, c * size);
	if (!p)
		return -1;
	memset((char *)p + *cap * size, 0, (c - *cap) * size);
	*arr = p;
	*cap = c;
	return 0;
}

/* Copy the capture file j<id>/name to fd. */
static void
emit(const struct sup *s, int id, const char *name, int fd)
{
	char path[64], buf[65536];
	ssize_t n;
	int in;

	snprintf(path, sizeof(path), "j%d/%s", id, name);
	in = openat(s->state_fd, path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n)
			break;
	close(in);
}

static int
exited(const struct job *j)
{
	struct pollfd p = { .fd = j->pidfd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* The lowerdir list of a job forked after `snap` joins. */
static void
lowers(const struct sup *s, int snap, char *out, size_t len)
{
	size_t used = 0;
	int k;

	out[0] = 0;
	for (k = snap; k > 0 && !s->ji[k].base; k--)
		if (!s->ji[k].empty)
			used += (size_t)snprintf(out + used, len - used,
						 "l%d:", k);
	snprintf(out + used, len - used, "b%d", k);
}

/*
 * A pidfd of the process at the other end of conn (its pid as the
 * kernel translates it into our pid namespace), or -1.
 */
static int
pidfd_of_peer(int conn)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -1;
	return (int)syscall(SYS_pidfd_open, cr.pid, 0);
}

/*
 * HELLO: register the job, make its dirs, send SETUP.  Pids in messages
 * are as make sees them (the program's pid namespace): they only match
 * FORKs with HELLOs and answer WAITs; pidfds are ours.
 */
static int
job_hello(struct sup *s, struct job *j, const struct bjob_msg *m)
{
	char name[64], low[BJOB_TEXT];

	j->id = ++s->next_id;
	j->pid = m->pid;
	j->ppid = m->ppid;
	j->cap = m->arg;
	j->cmd = strdup(m->text);
	if (j->state == J_NEW)
		j->snap = s->joins;
	if (j->pidfd < 0)
		j->pidfd = pidfd_of_peer(j->conn);
	if (!j->cmd || j->pidfd < 0)
		return -1;
	snprintf(name, sizeof(name), "j%d", j->id);
	if (mkdirat(s->state_fd, name, 0755) < 0)
		return -1;
	snprintf(name, sizeof(name), "j%d/u", j->id);
	if (mkdirat(s->state_fd, name, 0755) < 0)
		return -1;
	snprintf(name, sizeof(name), "j%d/w", j->id);
	if (mkdirat(s->state_fd, name, 0755) < 0)
		return -1;
	lowers(s, j->snap, low, sizeof(low));
	s->jobs++;
	j->state = J_WAITING;
	return msg_send(j->conn, BJOB_SETUP, j->id, low);
}

/*
 * Hand run tokens to waiting jobs, oldest first.  Recursive jobs take
 * none: they run when their make waits for them (try_wait).
 */
static void
grant_tokens(struct sup *s)
{
	while (s->running < s->tokens) {
		struct job *best = NULL;
		int i;

		for (i = 0; i < s->nlive; i++) {
			struct job *j = s->live[i];

			if (j->state != J_WAITING || (j->cap & BJOB_CAP_REC))
				continue;
			if (!best || (j->seq ? j->seq : LONG_MAX) <
				     (best->seq ? best->seq : LONG_MAX))
				best = j;
		}
		if (!best)
			return;
		best->state = J_RUNNING;
		s->running++;
		if (msg_send(best->conn, BJOB_GO, 0, NULL) < 0) {
			best->state = J_DEAD;
			s->running--;
		}
	}
}

/* Entries of directory fd but "." and ".."; -1 if it cannot be read. */
static long
entries(int fd)
{
	DIR *d = bjob_dir_open(fd);
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static int same_level(int tree, int base);

/* Are tree/name and base/name (directories) the same?  1 or 0. */
static int
same_dir(int tree, int base, const char *name)
{
	int t = openat(tree, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		       O_CLOEXEC);
	int b = openat(base, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		       O_CLOEXEC);
	int same = t >= 0 && b >= 0 && same_level(t, b);

	if (t >= 0)
		close(t);
	if (b >= 0)
		close(b);
	return same;
}

/*
 * Does directory tree still hold what its hard-link clone base does:
 * the same names, each the same inode (files, symlinks), an equal
 * directory of the same mode, or the same device node?  A file written
 * in place is the same inode in both (the base sees the write too);
 * anything made, deleted, renamed or replaced differs.  1 or 0 (also
 * when something cannot be read).
 */
static int
same_level(int tree, int base)
{
	DIR *d = bjob_dir_open(tree);
	struct dirent *e;
	struct stat t, b;
	int same = 1, err = 0;
	long n = 0;

	if (!d)
		return 0;
	while (same && (e = bjob_dir_next(d, tree, &t, &err))) {
		n++;
		if (fstatat(base, e->d_name, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
		    (t.st_mode & S_IFMT) != (b.st_mode & S_IFMT))
			same = 0;
		else if (S_ISDIR(t.st_mode))	/* made under umask 022 */
			same = (t.st_mode & 07755) == (b.st_mode & 07777) &&
			       same_dir(tree, base, e->d_name);
		else if (S_ISREG(t.st_mode) || S_ISLNK(t.st_mode))
			same = t.st_ino == b.st_ino;
		else
			same = t.st_rdev == b.st_rdev;
	}
	closedir(d);
	return same && !err && entries(base) == n;
}

/*
 * Would a new base now be the same as the last one?  Only if no layer
 * was stacked on it since (merges, ninja's directories) and the tree
 * still matches it: nothing outside job spaces (configure, a recipe
 * line running a sub-make, make deleting a target) changed the tree.
 */
static int
base_current(const struct sup *s)
{
	char name[32];
	int k, b, same;

	for (k = s->last_base + 1; k <= s->joins; k++)
		if (!s->ji[k].empty)
			return 0;
	snprintf(name, sizeof(name), "b%d", s->last_base);
	b = openat(s->state_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b < 0)
		return 0;
	same = same_level(s->tree_fd, b);
	close(b);
	return same;
}

/* Room for join number n; 0 or -1. */
static int
join_room(struct sup *s, int n)
{
	return reserve((void **)&s->ji, &s->ji_cap, (size_t)n,
		       sizeof(*s->ji));
}

static int
before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * Clamp the mtimes under directory fd: an entry written since detrun
 * started (outside job spaces: configure, a recipe line running a
 * sub-make) and newer than the logical time t gets t, so its mtime is
 * the same every run and older than what later joins merge (else every
 * object depending on configure's config.h looks out of date to the
 * next run).  Entries older than the start (the user's sources) keep
 * theirs.  0, or -1 if the walk failed.
 */
static int
clamp_level(int fd, const struct timespec *t, const struct timespec *start)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, *t };
	DIR *d = bjob_dir_open(fd);
	struct dirent *e;
	struct stat st;
	int rc = 0, err = 0, sub;

	if (!d)
		return -1;
	while (!rc && (e = bjob_dir_next(d, fd, &st, &err))) {
		if (S_ISDIR(st.st_mode)) {
			sub = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY |
				     O_NOFOLLOW | O_CLOEXEC);
			rc = sub < 0 ? -1 : clamp_level(sub, t, start);
			if (sub >= 0)
				close(sub);
		}
		if (!rc && !before(&st.st_mtim, start) &&
		    before(t, &st.st_mtim))
			rc = utimensat(fd, e->d_name, ts,
				       AT_SYMLINK_NOFOLLOW);
	}
	closedir(d);
	return rc || err ? -1 : 0;
}

/* The logical time of join n: the mtime base + n ns. */
static struct timespec
logical(const struct sup *s, int n)
{
	struct timespec t = s->mtimes;

	t.tv_nsec += n;
	t.tv_sec += t.tv_nsec / 1000000000;
	t.tv_nsec %= 1000000000;
	return t;
}

/* Clone the tree as it is now into base b<n>.  0 or -1 (one line
 * printed). */
static int
take_base(struct sup *s, int n)
{
	char name[32];

	snprintf(name, sizeof(name), "b%d", n);
	if (bjob_layer_clone(s->tree_fd, s->state_fd, name, NULL) < 0)
		return -1;
	s->ji[n].base = 1;
	s->last_base = n;
	s->bases++;
	return 0;
}

/*
 * A new base: the tree as it is now becomes snapshot b<n> of a new
 * (empty) join n.  0 or -1 (one line printed).
 */
static int
rebase(struct sup *s)
{
	int n = ++s->joins;

	struct timespec t = logical(s, n);

	if (join_room(s, n) < 0)
		return -1;
	if (clamp_level(s->tree_fd, &t, &s->started) < 0) {
		say("cannot set logical mtimes in %s: %s", s->tree,
		    strerror(errno));
		return -1;
	}
	s->ji[n].empty = 1;
	/* n counts either way: join numbers are mtimes */
	if (base_current(s)) {
		s->reused++;
		return 0;
	}
	return take_base(s, n);
}

/* Every COMPACT joins a new base of the tree as of join n. */
static int
compact(struct sup *s, int n)
{
	if (n - s->last_base < COMPACT)
		return 0;
	return take_base(s, n);
}

/* Merge job j's upper dir as join n; its exit status for detsh. */
static int
merge_job(struct sup *s, struct job *j, int n)
{
	char up[64], layer[32], path[4096];
	uint64_t before = s->ms.files + s->ms.dirs;
	int other = 0, rc, st = j->status;

	snprintf(up, sizeof(up), "j%d/u", j->id);
	snprintf(layer, sizeof(layer), "l%d", n);
	rc = bjob_merge(s->tree_fd, s->state_fd, up, j->snap, n,
			(int)j->seq, &s->mtimes, s->ix, &s->ms, path,
			sizeof(path), &other);
	if (rc == 1) {
		/* jobs are numbered in fork order: the same every run */
		fprintf(stderr, "detrun: conflict: %s: changed by job %d "
			"(%s) and job %ld (%s)\n", path, other,
			other < (int)s->cmd_cap && s->cmds[other] ?
			s->cmds[other] : "?", j->seq, j->cmd);
		s->conflicts++;
		st = 1 << 8;
	} else if (rc < 0) {
		s->internal = 1;
		st = 1 << 8;
	}
	if (rc == 0 && renameat(s->state_fd, up, s->state_fd, layer) < 0)
		rc = -1;
	else if (rc != 0 && mkdirat(s->state_fd, layer, 0755) < 0)
		rc = -1;
	if (rc < 0 && !s->internal) {
		say("cannot make layer %s: %s", layer, strerror(errno));
		s->internal = 1;
	}
	/* a layer with only a new directory still counts */
	s->ji[n].empty = s->ms.files + s->ms.dirs == before;
	return st;
}

/*
 * Join job j (DONE or DEAD) as the next join: merge its upper dir (a
 * recursive job: take a new base instead), emit its output, tell detsh
 * the status to exit with.
 */
static void
job_join(struct sup *s, struct job *j)
{
	double t0 = now_ms();
	int n, st = j->status;

	if (reserve((void **)&s->cmds, &s->cmd_cap, (size_t)j->seq,
		    sizeof(char *)) < 0 || join_room(s, s->joins + 1) < 0) {
		say("out of memory");
		s->internal = 1;
		return;
	}
	if (j->cmd && !s->cmds[j->seq])
		s->cmds[j->seq] = strdup(j->cmd);
	if (j->cap & BJOB_CAP_REC) {
		if (rebase(s) < 0)
			s->internal = 1;
	} else {
		n = ++s->joins;
		s->ji[n].empty = 1;
		if (j->state == J_DONE)
			st = merge_job(s, j, n);
		if (compact(s, n) < 0)
			s->internal = 1;
	}
	s->merge_ms += now_ms() - t0;
	if (j->state == J_DONE && !(j->cap & BJOB_CAP_REC))
		s->hol_ms += t0 - ((double)j->done_at.tv_sec * 1e3 +
				   (double)j->done_at.tv_nsec / 1e6);
	if (j->cap & BJOB_CAP_OUT)
		emit(s, j->id, "out", 1);
	if (j->cap & BJOB_CAP_ERR)
		emit(s, j->id, "err", 2);
	if (j->state == J_DONE)
		msg_send(j->conn, BJOB_ACK, st, NULL);
	j->state = J_JOINED;
}

/* Answer driver d's WAIT: a pid to reap, 0 (none yet) or -1. */
static void
reply(struct drv *d, pid_t who)
{
	if (d->conn >= 0)
		msg_send(d->conn, BJOB_WAITOK, who, NULL);
}

/* The job driver d's blocking wait is about, or NULL. */
static struct job *
wait_target(struct sup *s, struct drv *d)
{
	struct job *best = NULL;
	int i;

	for (i = 0; i < s->nlive; i++) {
		struct job *j = s->live[i];

		if (j->drv != d || j->state == J_REAPED)
			continue;
		if (d->target > 0 ? j->pid == d->target :
		    !best || j->seq < best->seq)
			best = j;
	}
	return best;
}

/* Move driver d's pending blocking wait on as far as it can go. */
static void
try_wait(struct sup *s, struct drv *d)
{
	struct job *j;

	if (!d->waiting)
		return;
	j = wait_target(s, d);
	/* Exited without ever saying HELLO: its exec failed. */
	if (j && j->state == J_FORKED && exited(j))
		j->state = J_DEAD;
	/* A sub-make runs when its make waits for it: one active make. */
	if (j && j->state == J_WAITING && (j->cap & BJOB_CAP_REC)) {
		j->state = J_RUNNING;
		if (msg_send(j->conn, BJOB_GO, 0, NULL) < 0)
			j->state = J_DEAD;
	}
	if (j && (j->state == J_DONE || j->state == J_DEAD))
		job_join(s, j);
	if (j && (j->state != J_JOINED || !exited(j)))
		return;
	if (j)
		j->state = J_REAPED;
	d->waiting = 0;
	reply(d, j ? j->pid : -1);
}

static void
try_waits(struct sup *s)
{
	int i;

	for (i = 0; i < s->ndrv; i++)
		try_wait(s, s->drv[i]);
}

/* Has driver d children it has not reaped? */
static int
driver_busy(const struct sup *s, const struct drv *d)
{
	int i;

	for (i = 0; i < s->nlive; i++)
		if (s->live[i]->drv == d && s->live[i]->state != J_REAPED)
			return 1;
	return 0;
}

/* The live job of pid, or NULL. */
static struct job *
job_of(struct sup *s, pid_t pid)
{
	int i;

	for (i = 0; i < s->nlive; i++)
		if (s->live[i]->pid == pid && s->live[i]->state != J_NEW &&
		    s->live[i]->state != J_REAPED)
			return s->live[i];
	return NULL;
}

/*
 * FORK: driver d spawned child pid (its detsh may have said HELLO);
 * pidfd (or -1) came with the message.
 */
static void
driver_fork(struct sup *s, struct drv *d, pid_t pid, int pidfd)
{
	struct job *j = job_of(s, pid);

	if (j && j->pidfd < 0)
		j->pidfd = pidfd;
	else if (j && pidfd >= 0)
		close(pidfd);

	if (!j) {
		j = calloc(1, sizeof(*j));
		if (!j || s->nlive == MAX_LIVE) {
			say("too many jobs at once (%d)", MAX_LIVE);
			free(j);
			if (pidfd >= 0)
				close(pidfd);
			s->internal = 1;
			return;
		}
		j->conn = -1;
		j->pid = pid;
		j->ppid = d->pid;
		j->state = J_FORKED;
		j->snap = s->joins;
		j->pidfd = pidfd;
		s->live[s->nlive++] = j;
	}
	j->drv = d;
	j->seq = ++s->fork_seq;
}

/* Drop driver i (it exited); its unreaped jobs belong to no one. */
static void
driver_gone(struct sup *s, int i)
{
	struct drv *d = s->drv[i];
	int k;

	for (k = 0; k < s->nlive; k++)
		if (s->live[k]->drv == d)
			s->live[k]->drv = NULL;
	if (d->conn >= 0)
		close(d->conn);
	free(d);
	s->drv[i] = s->drv[--s->ndrv];
}

/* One message, and the fd passed with it (else *fd stays -1). */
static ssize_t
recv_msg(int conn, struct bjob_msg *m, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n = recvmsg(conn, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	cm = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (cm && cm->cmsg_level == SOL_SOCKET &&
	    cm->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return n;
}

/*
 * mkdir -p of rel under dirfd, each directory with the mode of the same
 * directory in the tree.  0 or -1.
 */
static int
layer_dirs(const struct sup *s, int dirfd, const char *rel)
{
	char buf[PATH_MAX];
	struct stat st;
	char *p;

	snprintf(buf, sizeof(buf), "%s", rel);
	for (p = buf;; p++) {
		if (*p && *p != '/')
			continue;
		char c = *p;

		*p = 0;
		if (fstatat(s->tree_fd, buf, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			return -1;
		if (mkdirat(dirfd, buf, st.st_mode & 07777) < 0 &&
		    errno != EEXIST)
			return -1;
		*p = c;
		if (!c)
			return 0;
	}
}

/* path relative to dir when it lies strictly under it, else NULL. */
static const char *
under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strncmp(path, dir, n) || path[n] != '/' || !path[n + 1])
		return NULL;
	return path + n + 1;
}

/*
 * FS from a ninja driver (blocked until we answer, so this is a join
 * like any other): the directory it made (op 'd') or the file it
 * deleted ('u') at absolute path becomes layer l<n> of a new join n --
 * the directory, or a whiteout -- so jobs it spawns next see it.  Paths
 * outside the tree change nothing.
 */
static void
driver_fs(struct sup *s, struct drv *d, int op, const char *path)
{
	const char *rel = under(path, s->view), *slash;
	char layer[32], parent[PATH_MAX];
	int n, fd, rc = 0;

	if (!rel)
		rel = under(path, s->tree);
	if (!rel || (op != 'd' && op != 'u'))
		goto out;
	n = s->joins + 1;
	if (join_room(s, n) < 0)
		goto err;
	snprintf(layer, sizeof(layer), "l%d", n);
	if (mkdirat(s->state_fd, layer, 0755) < 0)
		goto err;
	fd = openat(s->state_fd, layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		goto err;
	slash = strrchr(rel, '/');
	if (op == 'd') {
		rc = layer_dirs(s, fd, rel);
	} else {
		snprintf(parent, sizeof(parent), "%.*s",
			 slash ? (int)(slash - rel) : 0, rel);
		if (slash)
			rc = layer_dirs(s, fd, parent);
		if (rc == 0)
			rc = mknodat(fd, rel, S_IFCHR | 0600, 0);
	}
	close(fd);
	if (rc < 0)
		goto err;
	s->joins = n;
	s->ji[n].empty = 0;
	if (compact(s, n) < 0)
		s->internal = 1;
	goto out;
err:
	say("cannot put %s into the snapshot: %s", path, strerror(errno));
	s->internal = 1;
out:
	reply(d, 0);
}

/* A request from driver i, or its hang-up. */
static void
on_driver(struct sup *s, int i)
{
	struct drv *d = s->drv[i];
	struct bjob_msg m;
	int fd = -1;
	ssize_t n = recv_msg(d->conn, &m, &fd);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < (ssize_t)(sizeof(m) - sizeof(m.text))) {
		if (fd >= 0)
			close(fd);
		driver_gone(s, i);
		return;
	}
	if (m.type == BJOB_FORK) {
		driver_fork(s, d, m.ppid, fd);
		return;
	}
	if (fd >= 0)
		close(fd);
	if (m.type == BJOB_FS) {
		m.text[sizeof(m.text) - 1] = 0;
		driver_fs(s, d, m.arg, m.text);
		return;
	}
	if (m.type == BJOB_WAIT && !m.arg) {
		d->waiting = 1;
		d->target = m.ppid;
		if (d->target == 0 || d->target < -1)
			d->target = -1;
		try_wait(s, d);
	} else if (m.type == BJOB_WAIT) {
		reply(d, driver_busy(s, d) ? 0 : -1);
	}
}

/*
 * DRIVER: connection c of job slot j is a make starting.  What ran
 * before it outside job spaces is taken into a new base.
 */
static void
driver_new(struct sup *s, struct job *j, const struct bjob_msg *m)
{
	struct drv *d = calloc(1, sizeof(*d));

	if (!d || s->ndrv == MAX_DRV) {
		say("too many makes at once (%d)", MAX_DRV);
		free(d);
		s->internal = 1;
		return;
	}
	d->pid = m->pid;
	d->conn = j->conn;
	j->conn = -1;
	s->drv[s->ndrv++] = d;
	if (s->ndrv == 1 && !s->tokens)
		s->tokens = m->arg > 0 ? m->arg : 1;
	if (rebase(s) < 0)
		s->internal = 1;
	msg_send(d->conn, BJOB_WAITOK, 0, NULL);
}

/* A message (or hang-up) from job j. */
static void
on_job(struct sup *s, struct job *j)
{
	struct bjob_msg m;
	ssize_t n = recv(j->conn, &m, sizeof(m), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n >= (ssize_t)(sizeof(m) - sizeof(m.text))) {
		m.text[sizeof(m.text) - 1] = 0;
		if (m.type == BJOB_DRIVER && j->state == J_NEW) {
			driver_new(s, j, &m);
			return;
		}
		if (m.type == BJOB_HELLO && j->state == J_NEW) {
			struct job *f = job_of(s, m.pid);

			if (f && f->state == J_FORKED) {
				/* make said FORK first: that job it is */
				f->conn = j->conn;
				j->conn = -1;
				j = f;
			}
			if (job_hello(s, j, &m) < 0) {
				say("cannot register a job: %s",
				    strerror(errno));
				s->internal = 1;
			}
			grant_tokens(s);
			try_waits(s);
			return;
		}
		if (m.type == BJOB_DONE && j->state == J_RUNNING) {
			j->status = m.arg;
			j->state = J_DONE;
			clock_gettime(CLOCK_MONOTONIC, &j->done_at);
			if (!(j->cap & BJOB_CAP_REC))
				s->running--;
			grant_tokens(s);
			try_waits(s);
			return;
		}
	}
	/* Hung up (or nonsense): the job is dead, its changes dropped. */
	close(j->conn);
	j->conn = -1;
	if (j->state == J_RUNNING && !(j->cap & BJOB_CAP_REC))
		s->running--;
	if (j->state < J_DONE && j->state > J_FORKED) {
		j->state = J_DEAD;
		j->status = SIGKILL;
	}
	grant_tokens(s);
	try_waits(s);
}

/* Forget jobs make has reaped, and connections that died unregistered. */
static void
sweep(struct sup *s)
{
	int i;

	for (i = s->nlive - 1; i >= 0; i--)
		if (s->live[i]->state == J_REAPED ||
		    (s->live[i]->state == J_NEW && s->live[i]->conn < 0))
			job_free(s, i);
}

static void
on_accept(struct sup *s)
{
	int c = accept4(s->lsock, NULL, NULL, SOCK_CLOEXEC);
	struct job *j;

	if (c < 0)
		return;
	j = calloc(1, sizeof(*j));
	if (!j || s->nlive == MAX_LIVE) {
		say("too many jobs at once (%d)", MAX_LIVE);
		free(j);
		close(c);
		return;
	}
	j->conn = c;
	j->pidfd = -1;
	j->state = J_NEW;
	s->live[s->nlive++] = j;
}

/* After SIGINT/SIGTERM: stop every job and the program. */
static void
stop_all(struct sup *s, int sig)
{
	int i;

	kill(s->top, sig);
	for (i = 0; i < s->nlive; i++)
		if (s->live[i]->pidfd >= 0)
			syscall(SYS_pidfd_send_signal, s->live[i]->pidfd,
				SIGKILL, NULL, 0);
}

/* What poll slot i is about. */
struct slot {
	struct job *job;
	int drv;		/* driver index, or -1 */
};

/* The event loop; returns the program's wait status. */
static int
loop(struct sup *s)
{
	static struct pollfd p[MAX_LIVE + MAX_DRV + 3];
	static struct slot who[MAX_LIVE + MAX_DRV + 3];
	int n, i, ws = 0, stopping = 0;

	for (;;) {
		if (interrupted && !stopping) {
			stop_all(s, interrupted);
			stopping = 1;
		} else if (stopping && ++stopping == 10) {
			/* pid 1 of its namespace ignores its own re-raise */
			kill(s->top, SIGKILL);
		}
		sweep(s);
		p[0] = (struct pollfd){ .fd = s->top_pidfd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = s->lsock, .events = POLLIN };
		p[2] = (struct pollfd){ .fd = s->rand_fd, .events = POLLIN };
		n = 3;
		for (i = 0; i < s->ndrv; i++) {
			who[n] = (struct slot){ NULL, i };
			p[n++] = (struct pollfd){ .fd = s->drv[i]->conn,
						  .events = POLLIN };
		}
		for (i = 0; i < s->nlive; i++) {
			struct job *j = s->live[i];
			int fd = j->state == J_JOINED ||
				 (j->state == J_FORKED && j->drv &&
				  j->drv->waiting) ? j->pidfd : j->conn;

			if (fd < 0)
				continue;
			who[n] = (struct slot){ j, -1 };
			p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		}
		if (poll(p, (nfds_t)n, stopping ? 100 : -1) < 0 &&
		    errno != EINTR)
			break;
		if (p[0].revents) {
			while (waitpid(s->top, &ws, 0) < 0 && errno == EINTR)
				;
			return ws;
		}
		if (p[1].revents & POLLIN)
			on_accept(s);
		if (p[2].revents & POLLIN)
			bjob_rand_serve(s->rand_fd);
		/* back to front: a driver that hangs up leaves the array */
		for (i = n - 1; i >= 3; i--) {
			if (!p[i].revents)
				continue;
			if (who[i].drv >= 0)
				on_driver(s, who[i].drv);
			else if (who[i].job->state == J_JOINED ||
				 who[i].job->state == J_FORKED)
				try_waits(s);
			else
				on_job(s, who[i].job);
		}
	}
	say("poll: %s", strerror(errno));
	stop_all(s, SIGKILL);
	waitpid(s->top, &ws, 0);
	return ws;
}

/* Kill what is left, reap every child (we are their subreaper). */
static void
reap_all(struct sup *s)
{
	int i;

	for (i = 0; i < s->nlive; i++)
		if (s->live[i]->pidfd >= 0)
			syscall(SYS_pidfd_send_signal, s->live[i]->pidfd,
				SIGKILL, NULL, 0);
	while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR)
		;
	while (s->nlive)
		job_free(s, s->nlive - 1);
}

/* "dev:ino" of fd into env variable var (detsh compares its fds). */
static void
export_id(int fd, const char *var)
{
	struct stat st;
	char id[64];

	if (fstat(fd, &st) < 0)
		return;
	snprintf(id, sizeof(id), "%llu:%llu",
		 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	setenv(var, id, 1);
}

/*
 * Where the state lives: $DET_BUILD_STATE, else /var/tmp, when it is on
 * the tree's filesystem (layers are hard links), else next to the tree.
 */
static int
make_state_dir(struct sup *s)
{
	const char *dir = getenv("DET_BUILD_STATE");
	struct stat a, b;

	if (!dir || !*dir)
		dir = "/var/tmp";
	if (stat(s->tree, &a) < 0)
		return -1;
	snprintf(s->state, sizeof(s->state), "%s/detrun-build.XXXXXX", dir);
	if (stat(dir, &b) < 0 || a.st_dev != b.st_dev) {
		char *slash;

		snprintf(s->state, sizeof(s->state), "%s", s->tree);
		slash = strrchr(s->state, '/');
		if (!slash || slash == s->state)
			return -1;
		snprintf(slash, sizeof(s->state) - (size_t)(slash - s->state),
			 "/.detrun-build.XXXXXX");
	}
	if (!mkdtemp(s->state))
		return -1;
	s->state_fd = open(s->state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return s->state_fd < 0 ? -1 : 0;
}

static int
listen_sock(struct sup *s)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	if (snprintf(a.sun_path, sizeof(a.sun_path), "%s/sock", s->state) >=
	    (int)sizeof(a.sun_path))
		return -1;
	s->lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s->lsock < 0 ||
	    bind(s->lsock, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s->lsock, 128) < 0)
		return -1;
	setenv("DETB_SOCK", a.sun_path, 1);
	return 0;
}

/*
 * Files whose mtime bounds those of the system's headers and libraries
 * a build may depend on (dpkg rewrites its status file at every package
 * change; a packaged file's mtime is older than its install).
 */
static const char *const system_stamps[] = {
	"/var/lib/dpkg/status", "/usr/local/include", "/usr/local/lib",
};

static void
later(struct timespec *t, const struct timespec *u)
{
	if (u->tv_sec > t->tv_sec ||
	    (u->tv_sec == t->tv_sec && u->tv_nsec > t->tv_nsec))
		*t = *u;
}

/*
 * The build's epoch: SOURCE_DATE_EPOCH, else the newest input.  Merged
 * files' mtimes start there too; without SOURCE_DATE_EPOCH, at the
 * newest of the tree and the system stamps, so that outputs are newer
 * than the system headers their depfiles name (else every later make
 * or ninja run would rebuild them).
 */
static void
set_epoch(struct sup *s, const struct timespec *newest)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	struct stat st;
	char buf[32];
	char *end;
	long long v;
	size_t i;

	s->epoch = *newest;
	s->mtimes = *newest;
	for (i = 0; i < sizeof(system_stamps) / sizeof(system_stamps[0]); i++)
		if (stat(system_stamps[i], &st) == 0)
			later(&s->mtimes, &st.st_mtim);
	if (sde) {
		errno = 0;
		v = strtoll(sde, &end, 10);
		if (!errno && !*end && end != sde && v >= 0) {
			s->epoch.tv_sec = (time_t)v;
			s->epoch.tv_nsec = 0;
			s->mtimes = s->epoch;
		}
	}
	snprintf(buf, sizeof(buf), "%lld", (long long)s->epoch.tv_sec);
	setenv("SOURCE_DATE_EPOCH", buf, 1);
	/* What a job's own writes read as (detclock.c): later than every
	 * file of the tree and every merge. */
	snprintf(buf, sizeof(buf), "%lld", (long long)(newest->tv_sec >
		 s->mtimes.tv_sec ? newest->tv_sec : s->mtimes.tv_sec) + 1);
	setenv("DETB_JOBTIME", buf, 1);
}

/* Paths of detsh and the clock library, next to detrun. */
static int
helpers(void)
{
	char exe[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return -1;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = 0;
	snprintf(path, sizeof(path), "%s/detsh", exe);
	if (access(path, X_OK) < 0)
		return -1;
	setenv("DETB_SHIM", path, 1);
	snprintf(path, sizeof(path), "%s/../lib/libdetclock.so", exe);
	setenv("DETB_CLOCK", access(path, R_OK) == 0 ? path : "", 1);
	snprintf(path, sizeof(path), "%s/../lib/libdetdrv.so", exe);
	if (access(path, R_OK) < 0)
		return -1;
	setenv("DETB_DRV", path, 1);
	return 0;
}

static void
print_stats(const struct sup *s)
{
	fprintf(stderr, "detrun: build stats: jobs %d, joins %d, bases %d, "
		"files merged %llu (%llu bytes), bytes copied up %llu, "
		"conflicts %d, time in merge %.1f ms, time waiting for older "
		"jobs %.1f ms\n",
		s->jobs, s->joins, s->bases, (unsigned long long)s->ms.files,
		(unsigned long long)s->ms.bytes,
		(unsigned long long)s->ms.copied_up, s->conflicts,
		s->merge_ms, s->hol_ms);
}

#define RANDOM_BYTES	(1 << 20)

/*
 * The build's /dev/urandom and /dev/random: RANDOM_BYTES of a stream
 * seeded by DET_SEED, in the state dir (file "random").  Tools that
 * read the device directly for names (cmake's TryCompile-XXXXXX) then
 * name things the same way every run.  0 or -1 (one line printed).
 */
static int
random_file(const struct sup *s)
{
	const char *seed = getenv("DET_SEED");
	unsigned long long sd = seed ? strtoull(seed, NULL, 0) : 0;
	uint64_t buf[8192];
	size_t i, k;
	int fd = openat(s->state_fd, "random", O_WRONLY | O_CREAT |
			O_EXCL | O_CLOEXEC, 0444);

	if (fd < 0)
		goto err;
	for (k = 0; k < RANDOM_BYTES / sizeof(buf); k++) {
		for (i = 0; i < sizeof(buf) / sizeof(buf[0]); i++) {
			uint64_t n = k * (sizeof(buf) / sizeof(buf[0])) + i;

			buf[i] = XXH64(&n, sizeof(n), sd);
		}
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			close(fd);
			goto err;
		}
	}
	if (close(fd) < 0)
		goto err;
	return 0;
err:
	say("cannot write %s/random: %s", s->state, strerror(errno));
	return -1;
}

/* Is b a or below a (whole path components)? */
static int
path_within(const char *b, const char *a)
{
	size_t n = strlen(a);

	if (n == 1)	/* "/" */
		return 1;
	return strncmp(b, a, n) == 0 && (b[n] == 0 || b[n] == '/');
}

/*
 * Where the build sees its tree (s->view, program()): DET_BUILD_PATH,
 * default BJOB_PATH; "." where it lives (detrun has checked the form).
 * A path overlapping the tree or the state dir is refused (s->usage).
 * 0, or -1 with one line printed.
 */
static int
build_view(struct sup *s)
{
	const char *p = getenv("DET_BUILD_PATH");

	if (!p || !*p)
		p = BJOB_PATH;
	if (!strcmp(p, "."))
		p = s->tree;
	if (strcmp(p, s->tree) && (path_within(s->tree, p) ||
	    path_within(p, s->tree) || path_within(s->state, p))) {
		s->usage = 1;
		return say("build path %s overlaps the tree %s or its state "
			   "dir (choose another with --build-path)", p,
			   s->tree), -1;
	}
	snprintf(s->view, sizeof(s->view), "%s", p);
	return 0;
}

/* Set up everything but the driver; 0 or -1 (one line printed). */
static int
setup(struct sup *s)
{
	struct timespec newest = { 0, 0 };

	s->lsock = s->top_pidfd = s->state_fd = s->rand_fd = -1;
	clock_gettime(CLOCK_REALTIME, &s->started);
	if (!getcwd(s->tree, sizeof(s->tree)))
		return say("cannot get the build directory: %s",
			   strerror(errno)), -1;
	s->tree_fd = open(s->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->tree_fd < 0 || make_state_dir(s) < 0)
		return say("cannot make a state directory for %s: %s",
			   s->tree, strerror(errno)), -1;
	s->ix = bjob_index_create();
	if (!s->ix || join_room(s, 0) < 0)
		return say("out of memory"), -1;
	s->ji[0].base = 1;
	s->ji[0].empty = 1;
	if (bjob_layer_clone(s->tree_fd, s->state_fd, "b0", &newest) < 0)
		return -1;
	set_epoch(s, &newest);
	if (random_file(s) < 0)
		return -1;
	if (listen_sock(s) < 0)
		return say("cannot listen on %s/sock: %s", s->state,
			   strerror(errno)), -1;
	if (helpers() < 0)
		return say("detsh or libdetdrv.so not found next to detrun"),
		       -1;
	setenv("DETB_STATE", s->state, 1);
	if (build_view(s) < 0)
		return -1;
	setenv("DETB_TREE", s->view, 1);
	setenv("DETB_REAL", s->tree, 1);
	setenv("DETB_SHELL", "/bin/sh", 1);
	export_id(1, "DETB_OUT");
	export_id(2, "DETB_ERR");
	return 0;
}

static void
teardown(struct sup *s)
{
	while (s->ndrv)
		driver_gone(s, s->ndrv - 1);
	if (s->lsock >= 0)
		close(s->lsock);
	if (s->top_pidfd >= 0)
		close(s->top_pidfd);
	if (s->rand_fd >= 0)
		close(s->rand_fd);
	reap_all(s);
	if (s->state_fd >= 0) {
		close(s->state_fd);
		if (!getenv("DETB_KEEP")) bjob_layer_remove(AT_FDCWD, s->state);
	}
	if (s->tree_fd >= 0)
		close(s->tree_fd);
	bjob_index_destroy(s->ix);
	free(s->ji);
	while (s->cmd_cap && s->cmd_cap--)
		free(s->cmds[s->cmd_cap]);
	free(s->cmds);
}

/*
 * A private, empty /tmp for the program (what configure leaves in /tmp
 * must not change the next run's temporary names) -- unless the tree,
 * the state directory or det itself (detsh, the preloads, next to this
 * executable) is there.
 */
static void
private_tmp(void)
{
	const char *t = getenv("DETB_REAL"), *st = getenv("DETB_STATE");
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[n > 0 ? n : 0] = 0;
	if (!strncmp(t, "/tmp/", 5) || !strncmp(st, "/tmp/", 5) ||
	    !strncmp(exe, "/tmp/", 5) ||
	    unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return;
	mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
	      "mode=1777,size=50%");
}

/* mkdir -p of an absolute path; 0 or -1. */
static int
mkdirs(const char *path)
{
	char buf[PATH_MAX];
	char *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1;; p++) {
		if (*p && *p != '/')
			continue;
		char c = *p;

		*p = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = c;
		if (!c)
			return 0;
	}
}

/*
 * The fixed build path: in a mount namespace of its own, the program
 * sees the tree bound at DETB_TREE (/build unless --build-path says
 * otherwise; made if missing: inside the private /tmp when it is
 * there, else left behind empty) and starts there, so the
 * paths a build records (__FILE__, debug info, logs) are the same
 * wherever the tree lives.  0, or -1 with errno set.
 */
static int
build_path(void)
{
	const char *view = getenv("DETB_TREE"), *real = getenv("DETB_REAL");

	if (!strcmp(view, real))
		return 0;
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mkdirs(view) < 0 ||
	    mount(real, view, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    chdir(view) < 0)
		return -1;
	return 0;
}

/*
 * In a mount namespace of the program's own, the random devices show
 * the state dir's "random" file (read-only).  0 or -1 with errno set.
 */
static int
bind_random(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/random", getenv("DETB_STATE"));
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(path, "/dev/urandom", NULL, MS_BIND, NULL) < 0 ||
	    mount(path, "/dev/random", NULL, MS_BIND, NULL) < 0)
		return -1;
	return 0;
}

/* Pass fd over the unix socket sock. */
static int
send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = "f", .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &mh, 0) < 0 ? -1 : 0;
}

/*
 * The program (child, pid 1 of a new pid namespace, so the pids of what
 * runs outside job spaces -- configure -- are the same every run): its
 * own uts namespace, detdrv preloaded so each make is a driver, and the
 * logical clock.
 */
static void __attribute__((noreturn))
program(char **argv, int sock)
{
	char pre[2 * PATH_MAX + 2];
	int fd;

	if (unshare(CLONE_NEWUTS) == 0) {
		sethostname("det", 3);
		setdomainname("", 0);
	}
	private_tmp();
	if (bind_random() < 0) {
		fprintf(stderr, "detrun: build: cannot show a seeded "
			"/dev/urandom: %s\n", strerror(errno));
		_exit(BJOB_EXIT_INTERNAL);
	}
	if (build_path() < 0) {
		fprintf(stderr, "detrun: build: cannot show the tree at %s: "
			"%s\n", getenv("DETB_TREE"), strerror(errno));
		_exit(BJOB_EXIT_INTERNAL);
	}
	snprintf(pre, sizeof(pre), "%s%s%s", getenv("DETB_DRV"),
		 *getenv("DETB_CLOCK") ? ":" : "", getenv("DETB_CLOCK"));
	setenv("LD_PRELOAD", pre, 1);
	setenv("DETB_DRIVER", "1", 1);
	fd = bjob_rand_filter();
	if (fd < 0 || send_fd(sock, fd) < 0) {
		fprintf(stderr, "detrun: build: cannot set up getrandom for "
			"%s: %s\n", argv[0], strerror(errno));
		_exit(BJOB_EXIT_INTERNAL);
	}
	close(fd);
	close(sock);
	execvp(argv[0], argv);
	fprintf(stderr, "detrun: cannot run %s: %s\n", argv[0],
		strerror(errno));
	_exit(2);
}

/* see bjob.h */
int
bjob_sup_run(char **argv, int stats)
{
	struct sigaction sa = { .sa_handler = on_signal };
	static struct sup sup;
	struct sup *s = &sup;
	int ws, rc, sv[2];
	struct bjob_msg m;

	if (setup(s) < 0) {
		teardown(s);
		return s->usage ? 2 : BJOB_EXIT_INTERNAL;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fflush(NULL);
	if (unshare(CLONE_NEWPID) < 0) {
		say("cannot make a pid namespace: %s", strerror(errno));
		teardown(s);
		return BJOB_EXIT_INTERNAL;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		say("socketpair: %s", strerror(errno));
		teardown(s);
		return BJOB_EXIT_INTERNAL;
	}
	s->top = fork();
	if (s->top == 0) {
		close(sv[0]);
		program(argv, sv[1]);
	}
	close(sv[1]);
	s->rand_fd = -1;
	if (s->top > 0) {
		struct pollfd pf = { .fd = sv[0], .events = POLLIN };

		poll(&pf, 1, -1);	/* the fd, or EOF if it failed */
		recv_msg(sv[0], &m, &s->rand_fd);
	}
	close(sv[0]);
	if (s->top > 0)
		s->top_pidfd = (int)syscall(SYS_pidfd_open, s->top, 0);
	if (s->top_pidfd < 0) {
		say("cannot start %s: %s", argv[0], strerror(errno));
		if (s->top > 0)
			waitpid(s->top, &ws, 0);
		teardown(s);
		return BJOB_EXIT_INTERNAL;
	}
	ws = loop(s);
	teardown(s);
	if (stats)
		print_stats(s);
	if (s->internal)
		rc = BJOB_EXIT_INTERNAL;
	else if (s->conflicts)
		rc = BJOB_EXIT_CONFLICT;
	else
		rc = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	if (interrupted)	/* what a shell reports for the signal */
		rc = 128 + interrupted;
	return rc;
}
