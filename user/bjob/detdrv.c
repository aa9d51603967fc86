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
 */
#include <dlfcn.h>
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bjob.h"

static int sock = -1;

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
	snprintf(shell, sizeof(shell), "SHELL=%s", shim);
	out[k++] = shell;
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
	if (!getenv("DETB_DRIVER") || (strcmp(me, "make") &&
					strcmp(me, "gmake")))
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
	int rc = real(&mine, path, fa, at, argv, envp);

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
