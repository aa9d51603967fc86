/*
 * check_sandbox.c -- the child sandbox and the deterministic environment:
 * each forbidden class refused with the right syscall reported, nothing
 * of the child applied; emulated calls deterministic; output captured and
 * written in join order.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "det.h"
#include "testutil.h"

static long touched;		/* every child writes it first */

static void
setup(void)
{
	det_config.quiet = 1;
	touched = 0;
}

static void *
thread_fn(void *a)
{
	return a;
}

/* The forbidden operations, one per class. */
static void
do_socket(void)
{
	socket(AF_INET, SOCK_STREAM, 0);
}

static void
do_create(void)
{
	open("/tmp/det-sandbox-test", O_WRONLY | O_CREAT, 0600);
}

static void
do_write_open(void)
{
	open("/etc/hostname", O_RDWR);
}

static void
do_unlink(void)
{
	unlink("/tmp/det-sandbox-nothing");
}

static void
do_kill(void)
{
	kill(getppid(), SIGCONT);
}

static void
do_thread(void)
{
	pthread_t t;

	pthread_create(&t, NULL, thread_fn, NULL);
}

static void
do_exec(void)
{
	char *argv[] = { "true", NULL };

	execv("/bin/true", argv);
}

static void
do_ptrace(void)
{
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}

static void
do_seccomp(void)
{
	syscall(SYS_seccomp, 0, 0, NULL);
}

static void
do_write_fd(void)
{
	/* a descriptor other than 1 and 2, open before the fork */
	write(3, "x", 1);
}

struct forbidden {
	const char *name;
	void (*fn)(void);
	long nr;		/* expected st.syscall_nr */
};

static const struct forbidden forbidden[] = {
	{ "socket", do_socket, SYS_socket },
	{ "create a file", do_create, SYS_openat },
	{ "open for writing", do_write_open, SYS_openat },
	{ "unlink", do_unlink, SYS_unlink },
	{ "signal another process", do_kill, SYS_kill },
	{ "thread", do_thread, -1 },	/* refused with signals blocked */
	{ "exec", do_exec, SYS_execve },
	{ "ptrace", do_ptrace, SYS_ptrace },
	{ "change the filter", do_seccomp, SYS_seccomp },
	{ "write to another fd", do_write_fd, SYS_write },
};

static void
forbidden_child(void *p)
{
	const struct forbidden *f = p;

	touched = 1;
	f->fn();
	touched = 2;
}

START_TEST(test_forbidden)
{
	const struct forbidden *f = &forbidden[_i];
	struct det_status st;

	ck_assert_int_eq(det_fork(0, forbidden_child, (void *)f), DET_OK);
	ck_assert_msg(det_join(0, &st) == DET_EPOLICY, "%s: not refused",
		      f->name);
	ck_assert_int_eq(st.code, DET_EPOLICY);
	ck_assert_msg(st.syscall_nr == f->nr, "%s: syscall_nr %ld, want %ld",
		      f->name, st.syscall_nr, f->nr);
	ck_assert_int_eq(st.bytes_merged, 0);
	/* Nothing of the child is applied. */
	ck_assert_int_eq(touched, 0);
}
END_TEST

static void
allowed_child(void *p)
{
	char buf[16];
	int fd;

	(void)p;
	fd = open("/proc/self/status", O_RDONLY);
	touched = fd >= 0 && read(fd, buf, sizeof(buf)) > 0;
	close(fd);
	printf("a child may print\n");
	fflush(stdout);
}

START_TEST(test_allowed)
{
	struct det_status st;

	ck_assert_int_eq(det_fork(0, allowed_child, NULL), DET_OK);
	ck_assert_int_eq(det_join(0, &st), DET_OK);
	ck_assert_int_eq(touched, 1);
}
END_TEST

/* ---- deterministic emulation ----------------------------------------- */

static unsigned char rnd[4][32];
static long clk[4][2];

static void
random_child(void *p)
{
	long k = (long)p;
	struct timespec a, b;

	getrandom(rnd[k], sizeof(rnd[k]), 0);
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &a);
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &b);
	clk[k][0] = a.tv_sec * 1000000000L + a.tv_nsec;
	clk[k][1] = b.tv_sec * 1000000000L + b.tv_nsec;
}

/* Run 2 children that read random bytes and the clock. */
static void
random_round(void)
{
	long k;

	memset(rnd, 0, sizeof(rnd));
	for (k = 0; k < 2; k++)
		ck_assert_int_eq(det_fork((unsigned)k, random_child,
					  (void *)k), DET_OK);
	for (k = 0; k < 2; k++)
		ck_assert_int_eq(det_join((unsigned)k, NULL), DET_OK);
}

START_TEST(test_random_and_clock)
{
	unsigned char first[4][32];
	static const unsigned char zero[32];

	random_round();
	memcpy(first, rnd, sizeof(first));
	random_round();
	/* Same place in the tree, same seed: the same bytes. */
	ck_assert_mem_oracle(rnd, first, sizeof(first));
	ck_assert_int_ne(memcmp(rnd[0], zero, 32), 0);
	/* Different spaces: different streams. */
	ck_assert_int_ne(memcmp(rnd[0], rnd[1], 32), 0);
	/* The logical clock: 2000-01-01, one microsecond per reading. */
	ck_assert_int_eq(clk[0][0], 946684800L * 1000000000L);
	ck_assert_int_eq(clk[0][1] - clk[0][0], 1000);
	ck_assert_int_eq(clk[1][0], clk[0][0]);
}
END_TEST

/* ---- virtual ids, signals to itself, rdtsc ------------------------------ */

struct ids {
	long pid, ppid, tid, raw_pid;
	long usr1;		/* SIGUSR1 deliveries */
	unsigned long long tsc[3];
	unsigned char urandom[16];
	long nprocs;
};

static struct ids ids[2];

/* Count in the record of the child it runs in (a shared counter would be
 * a write/write conflict). */
static void
on_usr1(int sig)
{
	(void)sig;
	ids[ids[1].pid == getpid()].usr1++;
}

static void
ids_child(void *p)
{
	struct ids *r = &ids[(long)p];
	unsigned aux = 7;
	int fd;

	r->pid = getpid();
	r->ppid = getppid();
	r->tid = gettid();
	r->raw_pid = syscall(SYS_getpid);
	signal(SIGUSR1, on_usr1);
	/* to itself, by the ids it sees: raise uses tgkill(getpid(), tid) */
	raise(SIGUSR1);
	kill(getpid(), SIGUSR1);
	r->tsc[0] = __builtin_ia32_rdtsc();
	r->tsc[1] = __builtin_ia32_rdtsc();
	r->tsc[2] = __builtin_ia32_rdtscp(&aux) + aux;
	r->nprocs = sysconf(_SC_NPROCESSORS_ONLN);
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && read(fd, r->urandom, 16) != 16)
		memset(r->urandom, 0, 16);
	close(fd);
}

/* Two children record what they see. */
static void
ids_round(void)
{
	long k;

	memset(ids, 0, sizeof(ids));
	for (k = 0; k < 2; k++)
		ck_assert_int_eq(det_fork((unsigned)k, ids_child, (void *)k),
				 DET_OK);
	for (k = 0; k < 2; k++)
		ck_assert_int_eq(det_join((unsigned)k, NULL), DET_OK);
}

START_TEST(test_ids_tsc_urandom)
{
	struct ids first[2];
	int k;

	ids_round();
	memcpy(first, ids, sizeof(first));
	ids_round();
	/* The same places in the tree see the same ids and cycles. */
	ck_assert_mem_oracle(ids, first, sizeof(first));
	for (k = 0; k < 2; k++) {
		ck_assert_int_gt(ids[k].pid, 1000);
		ck_assert_int_ne(ids[k].pid, getpid());
		ck_assert_int_eq(ids[k].tid, ids[k].pid);
		ck_assert_int_eq(ids[k].raw_pid, ids[k].pid);
		/* the parent's virtual id (the root's is 1000) */
		ck_assert_int_eq(ids[k].ppid, 1000);
		ck_assert_int_eq(ids[k].usr1, 2);
		/* rdtsc reads the logical clock: 1000 per reading, CPU 0 */
		ck_assert_uint_eq(ids[k].tsc[1] - ids[k].tsc[0], 1000);
		ck_assert_uint_eq(ids[k].tsc[2] - ids[k].tsc[1], 1000);
		/* glibc reads the CPU count from /sys: DET_CPUS, default 4 */
		ck_assert_int_eq(ids[k].nprocs, getenv("DET_CPUS") ?
				 atol(getenv("DET_CPUS")) : 4);
	}
	ck_assert_int_ne(ids[0].pid, ids[1].pid);
	/* /dev/urandom: the space's seeded stream, different per space */
	ck_assert_int_ne(memcmp(ids[0].urandom, ids[1].urandom, 16), 0);
}
END_TEST

/* ---- output ------------------------------------------------------------ */

static void
slow_talker(void *p)
{
	(void)p;
	usleep(50000);
	printf("slow child\n");
	fprintf(stderr, "slow child err\n");
}

static void
fast_talker(void *p)
{
	(void)p;
	printf("fast child\n");
}

static void
crashing_talker(void *p)
{
	(void)p;
	printf("last words\n");
	fflush(stdout);
	raise(SIGSEGV);
}

static void
big_talker(void *p)
{
	static char block[1 << 16];
	size_t i, n = (size_t)p;

	memset(block, 'x', sizeof(block));
	for (i = 0; i < n; i++)
		fwrite(block, 1, sizeof(block), stdout);
}

/*
 * Under AddressSanitizer a space switching to its own stack makes ASan
 * print a three-line warning (with a pid) once per process: not the
 * program's output, so it is dropped before comparing.
 */
static void
drop_sanitizer_noise(char *buf, size_t *len)
{
#ifdef __SANITIZE_ADDRESS__
	char *at, *end;
	int k;

	while ((at = memmem(buf, *len, "WARNING: ASan is ignoring", 25))) {
		while (at > buf && !(at[-1] == '=' && at - 1 > buf &&
				     at[-2] >= '0' && at[-2] <= '9'))
			at--;
		while (at > buf && at[-1] != '\n' && at[-1] != 'x')
			at--;
		for (end = at, k = 0; k < 3 && end < buf + *len; end++)
			k += *end == '\n';
		memmove(at, end, (size_t)(buf + *len - end));
		*len -= (size_t)(end - at);
		buf[*len] = 0;
	}
#else
	(void)buf;
	(void)len;
#endif
}

/*
 * Run scenario fn in a forked process whose stdout and stderr go to one
 * file; return that file's contents (malloc'ed) and its size.
 */
static char *
capture(void (*fn)(void), size_t *len)
{
	char path[] = "/tmp/det-capture-XXXXXX";
	int fd = mkstemp(path), ws;
	struct stat sb;
	char *buf;
	pid_t pid;

	ck_assert_int_ge(fd, 0);
	unlink(path);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		fn();
		fflush(stdout);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_int_eq(ws, 0);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	buf = malloc((size_t)sb.st_size + 1);
	ck_assert_int_eq(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
	buf[sb.st_size] = 0;
	close(fd);
	*len = (size_t)sb.st_size;
	drop_sanitizer_noise(buf, len);
	return buf;
}

static void
order_scenario(void)
{
	det_config.quiet = 0;
	printf("parent 1\n");
	det_fork(0, slow_talker, NULL);
	det_fork(1, fast_talker, NULL);
	printf("parent 2\n");
	det_join(0, NULL);
	printf("parent 3\n");
	det_join(1, NULL);
	det_fork(2, crashing_talker, NULL);
	det_join(2, NULL);
	printf("parent 4\n");
}

START_TEST(test_output_order)
{
	static const char want[] =
		"parent 1\nparent 2\nslow child\nslow child err\n"
		"parent 3\nfast child\nlast words\n"
		"det: child 2 (space 0.2) was killed by signal 11 "
		"(Segmentation fault); nothing of it applied\nparent 4\n";
	size_t len;
	char *got = capture(order_scenario, &len);

	ck_assert_str_eq(got, want);
	free(got);
}
END_TEST

static void
big_scenario(void)
{
	det_fork(0, big_talker, (void *)(size_t)1600);	/* 100 MiB */
	det_join(0, NULL);
	printf("done\n");
}

START_TEST(test_output_large)
{
	size_t len, i;
	char *got = capture(big_scenario, &len);

	ck_assert_uint_eq(len, (size_t)1600 * 65536 + 5);
	for (i = 0; i < len - 5; i++)
		if (got[i] != 'x')
			ck_abort_msg("byte %zu is %#x", i, got[i]);
	ck_assert_str_eq(got + len - 5, "done\n");
	free(got);
}
END_TEST

static Suite *
sandbox_suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("sandbox");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_forbidden, 0,
			    sizeof(forbidden) / sizeof(forbidden[0]));
	tcase_add_test(tc, test_allowed);
	tcase_add_test(tc, test_random_and_clock);
	tcase_add_test(tc, test_ids_tsc_urandom);
	tcase_add_test(tc, test_output_order);
	tcase_add_test(tc, test_output_large);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return test_run(sandbox_suite());
}
