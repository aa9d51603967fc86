/*
 * detdrv.c -- preloaded into the build driver (make) by `detrun
 * --build`: its spawns and waits go through the supervisor.
 *
 * After each posix_spawn/fork the driver tells the supervisor the
 * child's pid (FORK), before it does anything else; so the supervisor
 * knows every child, in fork order, and the join count at its fork.
 * Each wait asks the supervisor first (WAIT): a blocking wait is
 * answered with the pid of the oldest child once its files are merged
 * (then reaped from the kernel, which has its status), a WNOHANG wait
 * with children not yet joined is answered "none finished".  Only the
 * process whose pid is $DETB_DRV_PID acts; in its children (detsh and
 * what they run) these functions are the plain libc ones.
 */
#include <dlfcn.h>
#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bjob.h"

static int sock = -1;

/* Is this process the driver, connected to the supervisor? */
static int
driver(void)
{
	const char *p = getenv("DETB_DRV_PID");
	const char *path = getenv("DETB_SOCK");
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	if (sock >= 0)
		return 1;
	if (!p || !path || atoi(p) != getpid() ||
	    strlen(path) >= sizeof(a.sun_path))
		return 0;
	memcpy(a.sun_path, path, strlen(path) + 1);
	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock >= 0 && connect(sock, (struct sockaddr *)&a,
				 sizeof(a)) < 0) {
		close(sock);
		sock = -1;
	}
	return sock >= 0;
}

/*
 * One request; for WAIT, the answer: a pid to reap, 0 for "none
 * finished", -1 for "ask the kernel as asked".  A lost supervisor
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
	    type != BJOB_WAIT)
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

static int
spawned(int rc, const pid_t *pid)
{
	if (rc == 0 && pid && driver())
		ask(BJOB_FORK, *pid, 0);
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
		ask(BJOB_FORK, p, 0);
	return p;
}
