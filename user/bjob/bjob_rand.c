/*
 * bjob_rand.c -- getrandom(2) for the build, the same on every run.
 *
 * glibc's mkstemp (gcc's /tmp/ccXXXXXX.o, which configure logs) draws
 * its bits with an internal getrandom that no preload can replace.  So
 * the program detrun --build runs gets a seccomp filter that hands
 * getrandom to the supervisor (user notification; every descendant
 * inherits it), which writes bytes derived from the caller's pid in its
 * own pid namespace (deterministic: jobs and the program each have one),
 * its command name and how many times it asked, into the caller.
 * Only getrandom is notified: a notified call interrupted by a signal
 * fails with EINTR (glibc then falls back to the clock), so nothing
 * frequent or essential goes through here.
 */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include "bjob.h"

#define NCOUNT 4096

/* Calls so far per caller: (global pid, start time) -> count. */
static struct {
	pid_t pid;
	unsigned long long start;
	unsigned count;
} counts[NCOUNT];

/* see bjob.h */
int
bjob_rand_filter(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int fd = -1;

	if (!ctx)
		return -1;
	if (seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(getrandom),
			     0) == 0 && seccomp_load(ctx) == 0)
		fd = seccomp_notify_fd(ctx);
	seccomp_release(ctx);
	return fd;
}

/* The start of /proc/PID/name, NUL-terminated, into buf; 0 or -1. */
static int
read_proc(pid_t pid, const char *name, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, len - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return 0;
}

/*
 * What identifies the caller across runs: its innermost pid and name
 * (from /proc/PID/status) and its start time (to tell a reused pid).
 */
static int
caller(pid_t pid, char *key, size_t len, unsigned long long *start)
{
	char buf[4096], *p;
	int n;

	if (read_proc(pid, "stat", buf, sizeof(buf)) < 0)
		return -1;
	p = strrchr(buf, ')');
	/* field 22, starttime: 19 fields after the command's ')' */
	for (n = 0; p && n < 20; n++)
		p = strchr(p + 1, ' ');
	*start = p ? strtoull(p + 1, NULL, 10) : 0;
	if (read_proc(pid, "status", buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "NSpid:");
	if (!p)
		return -1;
	p = strchr(p, '\n');
	if (p)
		*p = 0;
	p = strrchr(buf, '\t');
	snprintf(key, len, "%s/%.*s", p ? p + 1 : "?",
		 (int)strcspn(buf + 6, "\n"), buf + 6);
	return 0;
}

/* The n-th call of this caller: its slot's count, then counted. */
static unsigned
next_count(pid_t pid, unsigned long long start)
{
	unsigned i = (unsigned)pid % NCOUNT;

	if (counts[i].pid != pid || counts[i].start != start) {
		counts[i].pid = pid;
		counts[i].start = start;
		counts[i].count = 0;
	}
	return counts[i].count++;
}

/* Fill the caller's buffer; bytes written, or -errno. */
static long
fill(pid_t pid, uint64_t addr, size_t len)
{
	char key[128], buf[256];
	unsigned long long start;
	struct iovec lo, re;
	uint64_t seed, h;
	unsigned nth;
	size_t i;

	if (caller(pid, key, sizeof(key), &start) < 0)
		return -ESRCH;
	if (len > sizeof(buf))
		len = sizeof(buf);	/* a short read, as getrandom allows */
	nth = next_count(pid, start);
	seed = XXH3_64bits(key, strlen(key)) ^ ((uint64_t)nth << 32);
	for (i = 0; i < len; i += sizeof(h)) {
		h = XXH3_64bits_withSeed(&i, sizeof(i), seed);
		memcpy(buf + i, &h, len - i < sizeof(h) ? len - i : sizeof(h));
	}
	lo = (struct iovec){ buf, len };
	re = (struct iovec){ (void *)(uintptr_t)addr, len };
	if (process_vm_writev(pid, &lo, 1, &re, 1, 0) != (ssize_t)len)
		return -EFAULT;
	return (long)len;
}

/* see bjob.h */
void
bjob_rand_serve(int nfd)
{
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	long r;

	if (seccomp_notify_alloc(&req, &resp) < 0)
		return;
	if (seccomp_notify_receive(nfd, req) == 0) {
		memset(resp, 0, sizeof(*resp));
		resp->id = req->id;
		r = fill((pid_t)req->pid, req->data.args[0],
			 (size_t)req->data.args[1]);
		/* still the same call (not interrupted, pid not reused)? */
		if (seccomp_notify_id_valid(nfd, req->id) == 0) {
			if (r < 0)
				resp->error = (int)r;
			else
				resp->val = r;
			seccomp_notify_respond(nfd, resp);
		}
	}
	seccomp_notify_free(req, resp);
}
