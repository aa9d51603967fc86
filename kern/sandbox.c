/*
 * sandbox.c -- the seccomp allowlist every child space runs under.
 *
 * The filter is built once, in the first space that forks, with
 * libseccomp, and exported as a BPF program kept in runtime memory; each
 * child loads it right after its fork (nested spaces inherit it).  The
 * default action is SECCOMP_RET_TRAP: a system call not on the list
 * raises SIGSYS, whose handler either emulates it deterministically
 * (getrandom: a stream seeded by DET_SEED and the space's path;
 * clock_gettime, gettimeofday, time: a logical clock; getpid, gettid,
 * getppid: virtual ids from the space's path; kill, tkill, tgkill: sent
 * when aimed at the space itself; open, openat: /dev/urandom and
 * /dev/random give a 64 KiB file of the space's stream, the CPU lists
 * in /sys say DET_CPUS, /proc/VPID is /proc/PID, other paths open for
 * real if only for reading)
 * or reports it to the parent (MSG_POLICY with the number) and ends
 * the child, whose join then returns DET_EPOLICY.  A refusal while
 * SIGSYS is blocked (glibc blocks every signal while it creates a
 * thread) kills the child with SIGSYS instead: the join still says
 * DET_EPOLICY, but without the number.
 *
 * rdtsc and rdtscp trap too (PR_SET_TSC): a SIGSEGV handler (or dirty
 * tracking's, which asks sandbox_tsc_fault first) returns the logical
 * clock.  The runtime itself reaches the real ids, clock and files with
 * RT_KEY in an unused argument, which the filter lets through.
 *
 * Allowed: memory management, reading (read, pread, fstat...), writing
 * to fds 1 and 2 only (captured output), the runtime's own channels
 * (sockets it already has, socketpair(AF_UNIX), pipes, userfaultfd, its
 * ioctls), fork without CLONE_THREAD (nested spaces), exit.  Refused:
 * creating or writing files, network sockets, signals to other
 * processes, threads, exec, ptrace, changing the filter, and anything
 * else.  DET_ALLOW (detrun --allow) adds names to the list.
 *
 * The lazy pager of a remote worker (user/lib/remote_lazy.c) has a
 * filter of its own (sandbox_pager_prepare, built in the worker before
 * the image replaces its heap; sandbox_pager_enter loads it without
 * allocating): the few calls that serving page faults from a connection
 * takes; anything else traps, and the pager's handler ends the worker.
 *
 * The root under detrun (sandbox_root) gets the same emulation of time,
 * randomness and ids, but no allowlist, and its opens are not trapped:
 * a trap while SIGSYS is blocked kills the thread's process, and threads
 * that block every signal (sigwait pools, posix_spawn children) open
 * files.  For programs linked with libdet, user/lib/interpose.c gives
 * the root the same virtual files through open/fopen/sysconf.
 */
#define KERN_INTERNAL
#define LOG_PREFIX "sandbox: "
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"
#include "space.h"

/* Allowed without conditions. */
static const int allow_plain[] = {
	SCMP_SYS(read), SCMP_SYS(pread64), SCMP_SYS(readv),
	SCMP_SYS(preadv), SCMP_SYS(preadv2), SCMP_SYS(lseek),
	SCMP_SYS(close), SCMP_SYS(close_range), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(stat),
	SCMP_SYS(lstat), SCMP_SYS(getdents64), SCMP_SYS(readlink),
	SCMP_SYS(readlinkat), SCMP_SYS(access), SCMP_SYS(faccessat),
	SCMP_SYS(faccessat2), SCMP_SYS(getcwd), SCMP_SYS(fcntl),
	SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(pipe2),
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect),
	SCMP_SYS(mremap), SCMP_SYS(madvise), SCMP_SYS(brk),
	SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(sigaltstack), SCMP_SYS(futex), SCMP_SYS(sched_yield),
	SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep), SCMP_SYS(wait4),
	SCMP_SYS(waitid), SCMP_SYS(getuid), SCMP_SYS(geteuid),
	SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(set_robust_list),
	SCMP_SYS(rseq), SCMP_SYS(set_tid_address), SCMP_SYS(uname),
	SCMP_SYS(sendto), SCMP_SYS(sendmsg), SCMP_SYS(recvfrom),
	SCMP_SYS(recvmsg), SCMP_SYS(poll), SCMP_SYS(ppoll),
	SCMP_SYS(userfaultfd), SCMP_SYS(memfd_create), SCMP_SYS(getrlimit),
};

/* Allowed ioctls: the runtime's (userfaultfd, PAGEMAP_SCAN) and
 * terminal queries (isatty). */
static const unsigned long allow_ioctl[] = {
	UFFDIO_API, UFFDIO_REGISTER, UFFDIO_UNREGISTER, UFFDIO_WRITEPROTECT,
	_IOWR('f', 16, char[96]),	/* PAGEMAP_SCAN */
	TCGETS, TIOCGWINSZ,
};

/* Whether the root's filter (under detrun) traps a keyed call. */
enum {
	ROOT_NEVER,
	ROOT_ALWAYS,
	/* unless a sanitizer runtime is loaded: LeakSanitizer's exit check
	 * passes getpid() to a helper process that reads /proc/PID with
	 * raw system calls while it blocks SIGSYS */
	ROOT_IDS,
};

/*
 * Calls that reach the kernel only with the runtime's key (RT_KEY) in
 * the given (otherwise unused) argument; without it they are emulated
 * (virtual ids, logical clock, signals to the space itself).
 */
static const struct keyed {
	int nr;
	unsigned arg;
	int root;		/* the root's filter traps it: ROOT_* */
} keyed[] = {
	{ SCMP_SYS(getpid), 0, ROOT_IDS }, { SCMP_SYS(getppid), 0, ROOT_IDS },
	{ SCMP_SYS(gettid), 0, ROOT_IDS }, { SCMP_SYS(kill), 2, ROOT_IDS },
	{ SCMP_SYS(tkill), 2, ROOT_IDS }, { SCMP_SYS(tgkill), 3, ROOT_IDS },
	{ SCMP_SYS(clock_gettime), 2, ROOT_ALWAYS },
	/* Not in the root: a trap while SIGSYS is blocked kills, and
	 * threads that block every signal still open files. */
	{ SCMP_SYS(openat), 4, ROOT_NEVER }, { SCMP_SYS(open), 3, ROOT_NEVER },
	{ SCMP_SYS(ftruncate), 2, ROOT_NEVER },
};

/* Add one rule with action act; 0 or -errno. */
static int
rule_act(scmp_filter_ctx ctx, uint32_t act, int nr, unsigned n,
	 const struct scmp_arg_cmp *c)
{
	int r = seccomp_rule_add_array(ctx, act, nr, n, c);

	return r == -EEXIST ? 0 : r;
}

/* Add one allow rule; 0 or -errno. */
static int
rule(scmp_filter_ctx ctx, int nr, unsigned n, const struct scmp_arg_cmp *c)
{
	return rule_act(ctx, SCMP_ACT_ALLOW, nr, n, c);
}

/* The keyed calls: allowed with the key (children: default TRAP), or
 * trapped without it (the root: default ALLOW); 0 or -errno. */
static int
rules_keyed(scmp_filter_ctx ctx, uint32_t act, enum scmp_compare cmp)
{
	struct scmp_arg_cmp c;
	size_t i;
	int r = 0;

	for (i = 0; i < sizeof(keyed) / sizeof(keyed[0]); i++) {
		if (act == SCMP_ACT_TRAP && (keyed[i].root == ROOT_NEVER ||
		    (keyed[i].root == ROOT_IDS &&
		     dlsym(RTLD_DEFAULT, "__lsan_do_leak_check"))))
			continue;
		c = (struct scmp_arg_cmp){ .arg = keyed[i].arg, .op = cmp,
					   .datum_a = RT_KEY };
		r |= rule_act(ctx, act, keyed[i].nr, 1, &c);
	}
	return r;
}

/* The rules with conditions on the arguments. */
static int
rules_with_args(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp c;
	int r = 0, fd;
	size_t i;

	/* open and openat trap (emulate_open decides); write only to the
	 * captured stdout and stderr. */
	for (fd = 1; fd <= 2; fd++) {
		c = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fd);
		r |= rule(ctx, SCMP_SYS(write), 1, &c);
		r |= rule(ctx, SCMP_SYS(writev), 1, &c);
		r |= rule(ctx, SCMP_SYS(pwrite64), 1, &c);
		r |= rule(ctx, SCMP_SYS(sendfile), 1, &c);
	}
	/* fork, not threads: nested spaces. */
	c = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0);
	r |= rule(ctx, SCMP_SYS(clone), 1, &c);
	c = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
	r |= rule(ctx, SCMP_SYS(socketpair), 1, &c);
	c = SCMP_A0(SCMP_CMP_NE, PR_SET_SECCOMP);
	r |= rule(ctx, SCMP_SYS(prctl), 1, &c);
	/* getrlimit through prlimit64, setting nothing. */
	c = SCMP_A2(SCMP_CMP_EQ, 0);
	r |= rule(ctx, SCMP_SYS(prlimit64), 1, &c);
	for (i = 0; i < sizeof(allow_ioctl) / sizeof(allow_ioctl[0]); i++) {
		c = SCMP_A1(SCMP_CMP_EQ, allow_ioctl[i]);
		r |= rule(ctx, SCMP_SYS(ioctl), 1, &c);
	}
	return r | rules_keyed(ctx, SCMP_ACT_ALLOW, SCMP_CMP_EQ);
}

/* Add every name of the comma-separated list to the allowlist. */
static int
rules_allowed_by_user(scmp_filter_ctx ctx, const char *list)
{
	char name[64];
	const char *p = list;
	size_t n;
	int nr;

	while (p && *p) {
		n = strcspn(p, ",");
		if (n == 0 || n >= sizeof(name)) {
			pr_err("DET_ALLOW=%s: bad syscall name", list);
			return -EINVAL;
		}
		memcpy(name, p, n);
		name[n] = 0;
		nr = seccomp_syscall_resolve_name(name);
		if (nr == __NR_SCMP_ERROR) {
			pr_err("DET_ALLOW: '%s' is not a system call", name);
			return -EINVAL;
		}
		if (rule(ctx, nr, 0, NULL))
			return -EINVAL;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/*
 * Export ctx's BPF program into runtime memory (*out, *outlen: freed
 * with rt_munmap), so that loading it later needs no allocation.
 * 0 or -errno.
 */
static int
bpf_export(scmp_filter_ctx ctx, void **out, size_t *outlen)
{
	size_t len = 0;
	char *mem = NULL;
	int fd, err = -EIO;
	ssize_t n;

	fd = memfd_create("det-bpf", MFD_CLOEXEC);
	if (fd < 0 || seccomp_export_bpf(ctx, fd) < 0)
		goto out;
	len = (size_t)lseek(fd, 0, SEEK_END);
	mem = rt_mmap(len, 0);
	if (!mem || len % sizeof(struct sock_filter)) {
		err = -ENOMEM;
		goto out;
	}
	n = pread(fd, mem, len, 0);
	if (n != (ssize_t)len)
		goto out;
	*out = mem;
	*outlen = len;
	mem = NULL;
	err = 0;
out:
	if (mem)
		rt_munmap(mem, len);
	if (fd >= 0)
		close(fd);
	return err;
}

/*
 * Build the BPF program once (in the space that forks first); later
 * calls, and children that inherited it, reuse it.  0 or -errno.
 */
int
sandbox_prepare(void)
{
	scmp_filter_ctx ctx;
	size_t i;
	int err = -EINVAL;

	if (rt->bpf_len || getenv("DET_NO_SANDBOX"))
		return 0;
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	/* A binary tree of syscall numbers, not a linear scan. */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (i = 0; i < sizeof(allow_plain) / sizeof(allow_plain[0]); i++)
		if (allow_plain[i] >= 0 && rule(ctx, allow_plain[i], 0, NULL))
			goto out;
	if (rules_with_args(ctx) ||
	    rules_allowed_by_user(ctx, getenv("DET_ALLOW")))
		goto out;
	err = bpf_export(ctx, &rt->bpf, &rt->bpf_len);
out:
	seccomp_release(ctx);
	if (err)
		pr_err("cannot build the seccomp filter (%s)", strerror(-err));
	return err;
}

/* xorshift64* step of the space's random stream. */
static uint64_t
sandbox_rand(void)
{
	uint64_t x = rt->rand_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rt->rand_state = x;
	return x * 2685821657736338717ull;
}

/* see sandbox.h */
void
sandbox_random_fill(void *buf, size_t len)
{
	uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = (uint8_t)(sandbox_rand() >> 56);
}

/* see sandbox.h */
void
sandbox_logical_time(struct timespec *ts)
{
	uint64_t ns = 946684800ull * 1000000000ull + rt->clock_ns;

	rt->clock_ns += 1000;
	ts->tv_sec = (time_t)(ns / 1000000000ull);
	ts->tv_nsec = (long)(ns % 1000000000ull);
}

/* A process id the program passed: its virtual id means itself. */
static long
real_id(long id, pid_t self)
{
	return id == rt->vpid ? self : id;
}

/*
 * kill, tkill, tgkill with the ids the program saw: to the space itself
 * they are sent; to anything else only the root may send (a child's
 * call is refused: 0).  1 when sent, the result in g[REG_RAX].
 */
static int
emulate_signal(long nr, greg_t *g)
{
	pid_t self = rt_getpid();
	long a = real_id(g[REG_RDI], self), b = real_id(g[REG_RSI], self);
	long r;
	int saved = errno;

	if (nr == SYS_tgkill) {
		if (rt->depth && (a != self || b != self))
			return 0;
		r = syscall(SYS_tgkill, a, b, g[REG_RDX], RT_KEY);
	} else {
		if (rt->depth && a != self)
			return 0;
		r = syscall(nr, a, g[REG_RSI], RT_KEY);
	}
	g[REG_RAX] = r < 0 ? -errno : r;
	errno = saved;
	return 1;
}

#define OPEN_WRITES	(O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND)
#define RANDOM_FILE	(64 * 1024)

/* An unnamed file of len bytes: a copy of src, or (src NULL) the next
 * len bytes of the space's random stream; the fd or -errno. */
static long
virtual_file(const void *src, size_t len, long flags)
{
	uint64_t *p;
	size_t i;
	int fd;

	fd = memfd_create("det-virtual", flags & O_CLOEXEC ? MFD_CLOEXEC : 0);
	if (fd < 0)
		return -errno;
	if (syscall(SYS_ftruncate, fd, len, RT_KEY) < 0)
		goto err_close;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto err_close;
	if (src)
		memcpy(p, src, len);
	else
		for (i = 0; i < len / sizeof(*p); i++)
			p[i] = sandbox_rand();
	munmap(p, len);
	return fd;

err_close:
	close(fd);
	return -errno;
}

/* The files a space sees in place of the machine's: the random
 * devices, and the CPU lists glibc's get_nprocs and sysconf read. */
static const char *const random_devs[] = { "/dev/urandom", "/dev/random" };
static const char *const cpu_lists[] = {
	"/sys/devices/system/cpu/online", "/sys/devices/system/cpu/possible",
	"/sys/devices/system/cpu/present",
};

/* Is path one of the n names in list? */
static int
one_of(const char *path, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(path, list[i]))
			return 1;
	return 0;
}

/* The virtual file for path, or -ENOENT when path is a real one. */
static long
virtual_open(const char *path, long flags)
{
	char cpus[32];
	int n;

	if (one_of(path, random_devs, 2))
		return virtual_file(NULL, RANDOM_FILE, flags);
	if (one_of(path, cpu_lists, 3)) {
		n = rt->cpus > 1 ? snprintf(cpus, sizeof(cpus), "0-%u\n",
					    rt->cpus - 1) :
				   snprintf(cpus, sizeof(cpus), "0\n");
		return virtual_file(cpus, (size_t)n, flags);
	}
	return -ENOENT;
}

/* /proc/VPID/... (a path built from getpid()) as /proc/PID/...: real
 * in buf; other paths unchanged. */
static const char *
proc_path(const char *path, char *buf, size_t len)
{
	char *end;
	long id;

	if (!path || strncmp(path, "/proc/", 6) != 0)
		return path;
	id = strtol(path + 6, &end, 10);
	if (end == path + 6 || id != rt->vpid || (*end && *end != '/'))
		return path;
	if ((size_t)snprintf(buf, len, "/proc/%d%s", (int)rt_getpid(),
			     end) >= len)
		return path;
	return buf;
}

/* see kern.h */
int
space_virtual_open(const char *path, int flags)
{
	if (!rt || !path || !(rt->sandboxed || rt->deterministic))
		return -ENOENT;
	return (int)virtual_open(path, flags);
}

/* see kern.h */
unsigned
space_cpus(void)
{
	return rt && (rt->sandboxed || rt->deterministic) ? rt->cpus : 0;
}

/*
 * open/openat: the random devices and CPU lists are virtual files
 * (virtual_open); other paths open for real -- in a child only to read
 * (0: refused).  1 when handled, the result in g[REG_RAX].
 */
static int
emulate_open(long dirfd, const char *path, long flags, long mode, greg_t *g)
{
	int saved = errno;
	long r = path ? virtual_open(path, flags) : -ENOENT;
	char real[4096];

	if (r == -ENOENT) {
		path = proc_path(path, real, sizeof(real));
		if (rt->depth && (flags & OPEN_WRITES))
			return 0;
		r = syscall(SYS_openat, dirfd, path, flags, mode, RT_KEY);
		if (r < 0)
			r = -errno;
	}
	g[REG_RAX] = r;
	errno = saved;
	return 1;
}

/* Emulate syscall nr from the registers in g; 1 when handled. */
static int
emulate(long nr, greg_t *g)
{
	struct timespec ts;
	uint8_t *mask;
	size_t i;
	long tid;

	switch (nr) {
	case SYS_getpid:
		g[REG_RAX] = rt->vpid;
		return 1;
	case SYS_getppid:
		g[REG_RAX] = rt->vppid;
		return 1;
	case SYS_gettid:
		/* the space's main thread; the root's other threads (under
		 * detrun) keep their real ids */
		tid = syscall(SYS_gettid, RT_KEY);
		g[REG_RAX] = tid == rt_getpid() ? rt->vpid : tid;
		return 1;
	case SYS_kill:
	case SYS_tkill:
	case SYS_tgkill:
		return emulate_signal(nr, g);
	case SYS_openat:
		return emulate_open(g[REG_RDI], (const char *)g[REG_RSI],
				    g[REG_RDX], g[REG_R10], g);
	case SYS_open:
		return emulate_open(AT_FDCWD, (const char *)g[REG_RDI],
				    g[REG_RSI], g[REG_RDX], g);
	case SYS_getrandom:
		sandbox_random_fill((void *)g[REG_RDI], (size_t)g[REG_RSI]);
		g[REG_RAX] = g[REG_RSI];
		return 1;
	case SYS_sched_getaffinity:
		/* rt->cpus CPUs, whatever the machine has */
		mask = (uint8_t *)g[REG_RDX];
		memset(mask, 0, (size_t)g[REG_RSI]);
		for (i = 0; i < rt->cpus && i / 8 < (size_t)g[REG_RSI]; i++)
			mask[i / 8] |= (uint8_t)(1u << (i % 8));
		g[REG_RAX] = g[REG_RSI] < 8 ? g[REG_RSI] : 8;
		return 1;
	case SYS_getcpu:
		if (g[REG_RDI])
			*(unsigned *)g[REG_RDI] = 0;
		if (g[REG_RSI])
			*(unsigned *)g[REG_RSI] = 0;
		g[REG_RAX] = 0;
		return 1;
	case SYS_clock_gettime:
		sandbox_logical_time(&ts);
		if (g[REG_RSI])
			*(struct timespec *)g[REG_RSI] = ts;
		g[REG_RAX] = 0;
		return 1;
	case SYS_gettimeofday:
		sandbox_logical_time(&ts);
		if (g[REG_RDI]) {
			((long *)g[REG_RDI])[0] = ts.tv_sec;
			((long *)g[REG_RDI])[1] = ts.tv_nsec / 1000;
		}
		g[REG_RAX] = 0;
		return 1;
	case SYS_time:
		sandbox_logical_time(&ts);
		if (g[REG_RDI])
			*(time_t *)g[REG_RDI] = ts.tv_sec;
		g[REG_RAX] = ts.tv_sec;
		return 1;
	}
	return 0;
}

/* SIGSYS: emulate, or report the refused call and end the space. */
static void
sandbox_sigsys(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	struct msg m = { .type = MSG_POLICY };

	(void)sig;
	if (emulate(si->si_syscall, uc->uc_mcontext.gregs))
		return;
	m.code = si->si_syscall;
	if (rt->depth == 0) {
		/* the root's filter traps only what emulate() handles */
		pr_err("system call %d trapped and not emulated", m.code);
		_exit(126);
	}
	space_send(rt->parent_sock, &m);
	_exit(126);
}

/* see sandbox.h */
int
sandbox_tsc_fault(void *ucv)
{
	greg_t *g = ((ucontext_t *)ucv)->uc_mcontext.gregs;
	const uint8_t *ip = (const uint8_t *)g[REG_RIP];
	uint64_t t;
	int len;

	if (!rt || !rt->tsc_trapped)
		return 0;
	if (ip[0] == 0x0f && ip[1] == 0x31)
		len = 2;			/* rdtsc */
	else if (ip[0] == 0x0f && ip[1] == 0x01 && ip[2] == 0xf9)
		len = 3;			/* rdtscp */
	else
		return 0;
	/* The logical clock, read as cycles at 1 GHz. */
	t = 946684800ull * 1000000000ull + rt->clock_ns;
	rt->clock_ns += 1000;
	g[REG_RAX] = (greg_t)(t & 0xffffffffu);
	g[REG_RDX] = (greg_t)(t >> 32);
	if (len == 3)
		g[REG_RCX] = 0;			/* TSC_AUX: CPU 0 */
	g[REG_RIP] += len;
	return 1;
}

/* SIGSEGV outside dirty tracking: rdtsc is emulated; a real fault runs
 * again with the default action (and ends the space). */
static void
sandbox_sigsegv(int sig, siginfo_t *si, void *ucv)
{
	if (si->si_code > 0 && sandbox_tsc_fault(ucv))
		return;
	signal(sig, SIG_DFL);
	if (si->si_code <= 0)
		raise(sig);
}

/* Seed this space's random stream (DET_SEED, the path); reset its
 * clock. */
static void
sandbox_seed(void)
{
	const char *s = getenv("DET_SEED");

	rt->rand_state = (s ? strtoull(s, NULL, 0) : 0) * 0x9e3779b97f4a7c15ull
			 ^ rt->path_hash ^ 0x5eedull;
	if (!rt->rand_state)
		rt->rand_state = 1;
	rt->clock_ns = 0;
	s = getenv("DET_CPUS");
	rt->cpus = s && atoi(s) > 0 && atoi(s) <= 1024 ? (unsigned)atoi(s) : 4;
}

/*
 * Install the SIGSYS handler, and trap rdtsc/rdtscp (PR_SET_TSC, kept
 * across fork) into a SIGSEGV handler that reads the logical clock,
 * unless dirty tracking's handler (which does the same) is installed;
 * 0 or -errno.
 */
static int
sandbox_handler(void)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sandbox_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	if (sigaction(SIGSEGV, NULL, &old) < 0)
		return -errno;
	if (old.sa_handler == SIG_DFL) {
		sa.sa_sigaction = sandbox_sigsegv;
		if (sigaction(SIGSEGV, &sa, NULL) < 0)
			return -errno;
	}
	if (!rt->tsc_trapped) {
		if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) < 0)
			return -errno;
		rt->tsc_trapped = 1;
	}
	return 0;
}

/* see sandbox.h */
int
sandbox_root(void)
{
	static const int trapped[] = {
		SCMP_SYS(getrandom),
		SCMP_SYS(gettimeofday), SCMP_SYS(time),
		SCMP_SYS(sched_getaffinity), SCMP_SYS(getcpu),
	};
	scmp_filter_ctx ctx;
	size_t i;
	int err;

	sandbox_seed();
	err = sandbox_handler();
	if (!err)
		err = sandbox_patch_vdso();
	if (err)
		return err;
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return -ENOMEM;
	for (i = 0; i < sizeof(trapped) / sizeof(trapped[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_TRAP, trapped[i], 0))
			err = -EINVAL;
	if (!err && rules_keyed(ctx, SCMP_ACT_TRAP, SCMP_CMP_NE))
		err = -EINVAL;
	if (!err)
		err = seccomp_load(ctx);
	seccomp_release(ctx);
	return err;
}

/*
 * In a new child: install the filter (once per chain: nested spaces
 * inherit it) and the SIGSYS handler; seed the random stream from
 * DET_SEED and the space's path.  0 or -errno.
 */
int
sandbox_enter(void)
{
	struct sock_fprog prog = {
		.len = (unsigned short)(rt->bpf_len /
					sizeof(struct sock_filter)),
		.filter = rt->bpf,
	};
	int err;

	sandbox_seed();
	if (!rt->bpf_len)
		return 0;
	err = sandbox_handler();
	if (!err)
		err = sandbox_patch_vdso();
	if (err || rt->sandboxed)
		return err;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	rt->sandboxed = 1;
	return 0;
}

/*
 * The pager's allowlist: reading faults from uffd and placing pages with
 * its copy/zero-page/wake ioctls; reading pages from the node's cache
 * (pread of cache, when >= 0); receiving and sending on the connection
 * and on the socket to the worker (socks); poll; ending the worker with
 * SIGKILL (with RT_KEY, for the root's filter); signal returns; exit.
 * 0 or -errno.
 */
static int
rules_pager(scmp_filter_ctx ctx, int uffd, int cache, const int *socks,
	    int nsocks, int worker)
{
	static const unsigned long uffd_ioctl[] = {
		UFFDIO_COPY, UFFDIO_ZEROPAGE, UFFDIO_WAKE,
	};
	static const int plain[] = {
		SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(rt_sigreturn),
		SCMP_SYS(restart_syscall), SCMP_SYS(exit),
		SCMP_SYS(exit_group),
	};
	struct scmp_arg_cmp c[2];
	size_t i;
	int r = 0, k;

	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		r |= rule(ctx, plain[i], 0, NULL);
	if (cache >= 0) {
		c[0] = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)cache);
		r |= rule(ctx, SCMP_SYS(pread64), 1, c);
	}
	c[0] = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)uffd);
	r |= rule(ctx, SCMP_SYS(read), 1, c);
	for (i = 0; i < sizeof(uffd_ioctl) / sizeof(uffd_ioctl[0]); i++) {
		c[1] = SCMP_A1(SCMP_CMP_EQ, uffd_ioctl[i]);
		r |= rule(ctx, SCMP_SYS(ioctl), 2, c);
	}
	for (k = 0; k < nsocks; k++) {
		c[0] = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)socks[k]);
		r |= rule(ctx, SCMP_SYS(recvfrom), 1, c);
		r |= rule(ctx, SCMP_SYS(sendto), 1, c);
		r |= rule(ctx, SCMP_SYS(sendmsg), 1, c);
	}
	c[0] = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)worker);
	c[1] = SCMP_A1(SCMP_CMP_EQ, SIGKILL);
	r |= rule(ctx, SCMP_SYS(kill), 2, c);
	return r;
}

/* see sandbox.h */
int
sandbox_pager_prepare(int uffd, int cache, const int *socks, int nsocks,
		      int worker)
{
	scmp_filter_ctx ctx;
	int err;

	if (rt->pager_bpf_len)
		return 0;
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	err = rules_pager(ctx, uffd, cache, socks, nsocks, worker) ?
	      -EINVAL : 0;
	if (!err)
		err = bpf_export(ctx, &rt->pager_bpf, &rt->pager_bpf_len);
	seccomp_release(ctx);
	return err;
}

/* see sandbox.h */
int
sandbox_pager_enter(void)
{
	struct sock_fprog prog = {
		.len = (unsigned short)(rt->pager_bpf_len /
					sizeof(struct sock_filter)),
		.filter = rt->pager_bpf,
	};

	if (!rt->pager_bpf_len)
		return -EINVAL;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	return 0;
}

/* see sandbox.h */
void
sandbox_syscall_name(long nr, char *buf, size_t len)
{
	char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
						      (int)nr);

	snprintf(buf, len, "%s", name ? name : "?");
	free(name);
}
