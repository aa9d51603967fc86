/*
 * detdrv.c -- preloaded into the build driver (make) by `detrun
 * --build`: its spawns and waits go through the supervisor.
 *
 * Every make started under `detrun --build` outside a job space
 * ($DETB_DRIVER set) is a driver.  At load, detdrv re-executes it with
 * its -jN flags replaced by -j (no job limit, no jobserver: det runs N
 * jobs at once itself) and SHELL=detsh, then connects to the supervisor
 * (DRIVER, with N) and waits until the supervisor has taken the tree as
 * it is as a new base.  After each posix_spawn/fork the driver tells the
 * supervisor the child's pid (FORK), before it does anything else; so
 * the supervisor knows every child, in fork order, and the join count
 * at its fork.  Each wait asks the supervisor first (WAIT): a blocking
 * wait is answered with the pid of the oldest child once its files are
 * merged (then reaped from the kernel, which has its status), a WNOHANG
 * wait with children not yet joined is answered "none finished".  In
 * other processes (detsh, the shells, compilers) nothing changes.
 *
 * ninja is a driver too: it is re-executed with -j1024 (det runs N)
 * instead of its -jN, its posix_spawn of /bin/sh runs detsh instead, and it
 * learns that a job ended from end of file on the job's output pipe
 * (ppoll), then reaps it with waitpid.  So ppoll here hides end of file
 * on every pipe but the oldest job's (ninja polls its jobs' pipes in
 * spawn order): ninja reads output from all of them as it comes, but
 * sees them end in spawn order, and its waitpid (a blocking WAIT)
 * returns once the job's files are merged.  The directories ninja makes
 * for outputs and the files it deletes (depfiles it has read) are
 * reported to the supervisor (FS), which puts them into the snapshot
 * of the jobs ninja spawns next.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bjob.h"

static int sock = -1;
static int ninja;	/* the driver is ninja (else make) */

/* Is this process the driver, connected to the supervisor? */
static int
driver(void)
{
	return sock >= 0;
}

/*
 * One request; for WAIT and DRIVER, the answer: a pid to reap, 0 for
 * "none finished", -1 for "ask the kernel as asked".  A lost supervisor
 * answers -1: the build then goes on without ordering.
 */
static pid_t
ask(uint32_t type, pid_t pid, int arg)
{
	struct bjob_msg m = { .type = type, .pid = getpid(), .ppid = pid,
			      .arg = arg };
	int e = errno;
	ssize_t n;

	if (send(sock, &m, sizeof(m) - sizeof(m.text) + 1, 0) < 0 ||
	    type == BJOB_FORK)
		goto out;
	do
		n = recv(sock, &m, sizeof(m), 0);
	while (n < 0 && errno == EINTR);
	if (n >= (ssize_t)(sizeof(m) - sizeof(m.text)) &&
	    m.type == BJOB_WAITOK) {
		errno = e;
		return m.arg;
	}
out:
	errno = e;
	return -1;
}

static int
connect_sup(void)
{
	const char *path = getenv("DETB_SOCK");
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s;

	if (!path || strlen(path) >= sizeof(a.sun_path))
		return -1;
	memcpy(a.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(s);
		s = -1;
	}
	return s;
}

/* The N of a -j flag's value ("" or NULL: no N). */
static int
jobs_of(const char *v)
{
	int n = v ? atoi(v) : 0;

	return n > 0 ? (n > 1024 ? 1024 : n) : (int)sysconf(
		_SC_NPROCESSORS_ONLN);
}

/*
 * Re-execute make with -j and SHELL=detsh instead of its -j flags;
 * returns only if that fails.
 */
static void
reexec(int argc, char **argv)
{
	char **out = calloc((size_t)argc + 3, sizeof(char *));
	const char *shim = getenv("DETB_SHIM");
	char shell[4096], pid[32], jobs[32];
	int i, k = 0, n = 1;

	if (!out || !shim)
		return;
	out[k++] = argv[0];
	out[k++] = "-j";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-j") || !strcmp(a, "--jobs")) {
			if (i + 1 < argc && argv[i + 1][0] >= '0' &&
			    argv[i + 1][0] <= '9')
				n = jobs_of(argv[++i]);
			else
				n = jobs_of(NULL);
		} else if (!strncmp(a, "-j", 2) && a[2] >= '0' &&
			   a[2] <= '9') {
			n = jobs_of(a + 2);
		} else if (!strncmp(a, "--jobs=", 7)) {
			n = jobs_of(a + 7);
		} else {
			out[k++] = argv[i];
		}
	}
	if (ninja) {
		/* a constant: ninja then starts the same edges every run */
		out[1] = "-j1024";
		setenv("DETB_NOREC", "1", 1);
	} else {
		snprintf(shell, sizeof(shell), "SHELL=%s", shim);
		out[k++] = shell;
	}
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	snprintf(jobs, sizeof(jobs), "%d", n);
	setenv("DETB_REEXEC", pid, 1);
	setenv("DETB_JOBS", jobs, 1);
	execv("/proc/self/exe", out);
	free(out);
}

/* At load: a make under detrun --build becomes a driver. */
static void __attribute__((constructor))
detdrv_init(int argc, char **argv, char **envp)
{
	const char *me = program_invocation_short_name;
	const char *re = getenv("DETB_REEXEC");

	(void)envp;
	ninja = !strcmp(me, "ninja");
	if (!getenv("DETB_DRIVER") || (strcmp(me, "make") &&
					strcmp(me, "gmake") && !ninja))
		return;
	if (!re || atoi(re) != getpid()) {
		reexec(argc, argv);
		return;
	}
	sock = connect_sup();
	if (sock >= 0)
		ask(BJOB_DRIVER, getpid(), atoi(getenv("DETB_JOBS") ?
						getenv("DETB_JOBS") : "1"));
}

typedef pid_t (*wait4_fn)(pid_t, int *, int, struct rusage *);

static pid_t
det_wait4(pid_t pid, int *st, int opt, struct rusage *ru)
{
	wait4_fn real = (wait4_fn)dlsym(RTLD_NEXT, "wait4");
	pid_t who;

	if (!driver())
		return real(pid, st, opt, ru);
	who = ask(BJOB_WAIT, pid, opt & WNOHANG);
	if (who == 0)
		return 0;
	if (who > 0)
		return real(who, st, opt & ~WNOHANG, ru);
	return real(pid, st, opt, ru);
}

pid_t
wait4(pid_t pid, int *st, int opt, struct rusage *ru)
{
	return det_wait4(pid, st, opt, ru);
}

pid_t
wait3(int *st, int opt, struct rusage *ru)
{
	return det_wait4(-1, st, opt, ru);
}

pid_t
waitpid(pid_t pid, int *st, int opt)
{
	return det_wait4(pid, st, opt, NULL);
}

pid_t
wait(int *st)
{
	return det_wait4(-1, st, 0, NULL);
}

typedef int (*spawn_fn)(pid_t *, const char *,
			const posix_spawn_file_actions_t *,
			const posix_spawnattr_t *, char *const[],
			char *const[]);

/*
 * FORK: the child's pid as we see it, and a pidfd of it (the
 * supervisor lives in another pid namespace).
 */
static void
tell_fork(pid_t pid)
{
	struct bjob_msg m = { .type = BJOB_FORK, .pid = getpid(),
			      .ppid = pid };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &m,
			     .iov_len = sizeof(m) - sizeof(m.text) + 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int e = errno, fd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct cmsghdr *cm;

	if (fd >= 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	sendmsg(sock, &mh, 0);
	if (fd >= 0)
		close(fd);
	errno = e;
}

static int
spawned(int rc, const pid_t *pid)
{
	if (rc == 0 && pid && driver())
		tell_fork(*pid);
	return rc;
}

int
posix_spawn(pid_t *pid, const char *path,
	    const posix_spawn_file_actions_t *fa,
	    const posix_spawnattr_t *at, char *const argv[],
	    char *const envp[])
{
	spawn_fn real = (spawn_fn)dlsym(RTLD_NEXT, "posix_spawn");
	pid_t mine;
	int rc;

	if (driver() && ninja && !strcmp(path, "/bin/sh") &&
	    getenv("DETB_SHIM"))
		path = getenv("DETB_SHIM");
	rc = real(&mine, path, fa, at, argv, envp);

	if (rc == 0 && pid)
		*pid = mine;
	return spawned(rc, &mine);
}

int
posix_spawnp(pid_t *pid, const char *file,
	     const posix_spawn_file_actions_t *fa,
	     const posix_spawnattr_t *at, char *const argv[],
	     char *const envp[])
{
	spawn_fn real = (spawn_fn)dlsym(RTLD_NEXT, "posix_spawnp");
	pid_t mine;
	int rc = real(&mine, file, fa, at, argv, envp);

	if (rc == 0 && pid)
		*pid = mine;
	return spawned(rc, &mine);
}

pid_t
fork(void)
{
	pid_t (*real)(void) = (pid_t (*)(void))dlsym(RTLD_NEXT, "fork");
	int drv = driver();
	pid_t p = real();

	if (p > 0 && drv)
		tell_fork(p);
	return p;
}

typedef int (*ppoll_fn)(struct pollfd *, nfds_t, const struct timespec *,
			const sigset_t *);

/* At end of file, nothing left to read (a pipe whose writers are gone)? */
static int
at_eof(short revents)
{
	return (revents & (POLLHUP | POLLERR)) && !(revents & POLLIN);
}

/*
 * ninja's wait for its jobs: poll as asked, but a pipe at end of file
 * other than the first one polled (the oldest job's) is left out and
 * the poll repeated without it; so ninja sees its jobs end in spawn
 * order.  Data on any pipe is reported as it comes.
 */
static int
ordered_ppoll(ppoll_fn real, struct pollfd *fds, nfds_t n,
	      const struct timespec *tmo, const sigset_t *mask)
{
	static struct pollfd c[4096];
	nfds_t i, first = n;
	int rc, ready;

	if (n > sizeof(c) / sizeof(c[0]))
		return real(fds, n, tmo, mask);
	memcpy(c, fds, n * sizeof(*fds));
	for (i = 0; i < n && first == n; i++)
		if (fds[i].fd >= 0)
			first = i;
	do {
		rc = real(c, n, tmo, mask);
		if (rc <= 0)
			return rc;
		ready = 0;
		for (i = 0; i < n; i++) {
			if (c[i].fd >= 0 && i != first && at_eof(c[i].revents))
				c[i].fd = -1;	/* hidden until it is oldest */
			else if (c[i].fd >= 0 && c[i].revents)
				ready++;
		}
	} while (!ready);
	for (i = 0; i < n; i++)
		fds[i].revents = c[i].fd >= 0 ? c[i].revents : 0;
	return ready;
}

int
ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
      const sigset_t *mask)
{
	ppoll_fn real = (ppoll_fn)dlsym(RTLD_NEXT, "ppoll");

	if (!driver() || !ninja || !n)
		return real(fds, n, tmo, mask);
	return ordered_ppoll(real, fds, n, tmo, mask);
}

/*
 * FS: ninja made directory path (op 'd') or deleted file path (op 'u')
 * in the tree; the supervisor adds it to later snapshots before we go
 * on.  path is made absolute (the supervisor ignores paths outside the
 * tree).
 */
static void
tell_fs(int op, const char *path)
{
	struct bjob_msg m = { .type = BJOB_FS, .arg = op };
	char dir[PATH_MAX], abs[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	int e = errno;
	ssize_t n;

	if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		snprintf(dir, sizeof(dir), ".");
	if (!realpath(dir, abs) ||
	    snprintf(m.text, sizeof(m.text), "%s/%s", abs, base) >=
	    (int)sizeof(m.text))
		goto out;
	m.pid = getpid();
	if (send(sock, &m, sizeof(m) - sizeof(m.text) + strlen(m.text) + 1,
		 0) < 0)
		goto out;
	do
		n = recv(sock, &m, sizeof(m), 0);
	while (n < 0 && errno == EINTR);
out:
	errno = e;
}

int
mkdir(const char *path, mode_t mode)
{
	int (*real)(const char *, mode_t) =
		(int (*)(const char *, mode_t))dlsym(RTLD_NEXT, "mkdir");
	int rc = real(path, mode);

	if (rc == 0 && driver() && ninja)
		tell_fs('d', path);
	return rc;
}

int
unlink(const char *path)
{
	int (*real)(const char *) =
		(int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
	int rc = real(path);

	if (rc == 0 && driver() && ninja)
		tell_fs('u', path);
	return rc;
}

int
remove(const char *path)
{
	int (*real)(const char *) =
		(int (*)(const char *))dlsym(RTLD_NEXT, "remove");
	struct stat st;
	int dir, rc;

	if (!driver() || !ninja)
		return real(path);
	dir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
	rc = real(path);
	if (rc == 0 && !dir)
		tell_fs('u', path);
	return rc;
}
