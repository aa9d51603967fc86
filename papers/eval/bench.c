/*
 * bench.c -- det's benchmarks, run by papers/eval/bench.sh (make bench).
 *
 *   bench fork MIB REPS     det_fork + det_join of a child that changes
 *                           nothing vs fork() + _exit(0) + waitpid(), with
 *                           MIB MiB resident
 *   bench merge REPS        merge_apply (child-only pages) and
 *                           merge_conflicts + merge_apply (both sides
 *                           changed) over 64 MiB, page by page, vs memcpy
 *                           and memcmp of the same bytes
 *   bench join64 REPS       det_join of a child that rewrote 64 MiB
 *   bench firstwrite REPS   first write to a page in a det child (backend
 *                           from DET_DIRTY) vs a plain fork()'s COW fault
 *                           and vs a write to a writable page
 *   bench joinscale REPS    det_join of a child that wrote 1 .. 262144
 *                           pages of a 1 GiB buffer
 *
 * Each value is measured REPS times (det and its baseline interleaved)
 * with clock_gettime(CLOCK_MONOTONIC); stdout gets one line per result:
 *
 *   R NAME MEDIAN MIN MAX N UNIT    a measurement, median of N
 *   I KEY VALUE                     a fact (backend, merge impl, ...)
 *   F NAME details                  a det_fork/det_join that failed
 *
 * Progress goes to stderr.  Every buffer is mmap'ed and filled before
 * timing, so its pages are present.
 */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "det.h"
#include "kern.h"
#include "merge.h"

#define PG		4096UL
#define MIB		(1UL << 20)
#define MAX_REPS	1000
#define NSERIES		6
#define MERGE_BYTES	(64 * MIB)
#define FW_PAGES	16384UL
#define SCALE_PAGES	262144UL	/* 1 GiB */

/* Samples of up to NSERIES series; the parent writes them after joins. */
static double smp[NSERIES][MAX_REPS];

/* Set by the parent before det_fork, read by the child. */
static uint8_t *cbuf;		/* the buffer the child writes */
static size_t cpages;		/* pages it writes */
static uint8_t cval;		/* the value it writes */
static int cpipe = -1;		/* write end: "done writing" */

/* Written by a det child, read by the parent after the join (merged). */
static uint64_t child_ns;

static volatile int sink;
static char sink_page[PG];

/* Give up: what failed, and errno. */
static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* CLOCK_MONOTONIC in ns. */
static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* qsort order for doubles. */
static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Print "R name median min max n unit" for the n samples s (sorted). */
static void
report(const char *name, const char *unit, double *s, int n)
{
	double med;

	if (n <= 0)
		return;
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	printf("R %s %.6g %.6g %.6g %d %s\n", name, med, s[0], s[n - 1], n,
	       unit);
	fflush(stdout);
}

/* mmap len bytes and fill them with c, so that every page is present. */
static uint8_t *
buf_alloc(size_t len, int c)
{
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	memset(p, c, len);
	return p;
}

/* Say on stdout and stderr that `what` of benchmark `name` failed. */
static void
fail(const char *name, const char *what, int rc, const struct det_status *st)
{
	char line[512];

	if (st)
		snprintf(line, sizeof(line), "F %s %s rc=%d code=%d "
			 "exit_code=%d signal=%d sys_errno=%d pages_dirty=%zu "
			 "bytes_merged=%zu nconflicts=%zu", name, what, rc,
			 st->code, st->exit_code, st->signal, st->sys_errno,
			 st->pages_dirty, st->bytes_merged, st->nconflicts);
	else
		snprintf(line, sizeof(line), "F %s %s rc=%d", name, what, rc);
	printf("%s\n", line);
	fflush(stdout);
	fprintf(stderr, "bench: %s\n", line);
}

/* det_join child 0 into *st, timing it in *ns; 0, or -1 (reported). */
static int
join0(const char *name, struct det_status *st, uint64_t *ns)
{
	uint64_t t0 = now_ns();
	int rc = det_join(0, st);

	*ns = now_ns() - t0;
	if (rc == DET_OK)
		return 0;
	fail(name, "det_join", rc, st);
	return -1;
}

/* Wait for pid, retrying on EINTR. */
static void
reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* ---- 1. fork + join of a child that changes nothing ---- */

/* The det child that changes nothing. */
static void
noop(void *arg)
{
	(void)arg;
}

/* The baseline: fork() a child that _exits at once, and reap it; ns. */
static uint64_t
raw_fork_ns(void)
{
	uint64_t t0 = now_ns();
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0)
		_exit(0);
	reap(pid);
	return now_ns() - t0;
}

/*
 * The least a holder-based design costs: fork() a child that forks a
 * grandchild, which _exits; the child reaps it and _exits; ns.
 */
static uint64_t
raw_fork2_ns(void)
{
	uint64_t t0 = now_ns();
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		pid_t g = fork();

		if (g == 0)
			_exit(0);
		if (g > 0)
			reap(g);
		_exit(0);
	}
	reap(pid);
	return now_ns() - t0;
}

/* det_fork + det_join of noop, timed into *ns; 0, or -1 (reported). */
static int
det_fork_ns(const char *name, uint64_t *ns)
{
	struct det_status st;
	uint64_t t0 = now_ns(), tj;
	int rc = det_fork(0, noop, NULL);

	if (rc != DET_OK) {
		fail(name, "det_fork", rc, NULL);
		return -1;
	}
	if (join0(name, &st, &tj))
		return -1;
	*ns = now_ns() - t0;
	return 0;
}

/*
 * bench fork MIB REPS.  Series in us: 0 fork(), 1 det, 2 two nested
 * fork()s.  Names carry the backend: fork.MIB.BACKEND.{raw,det,raw2}.
 */
static int
cmd_fork(size_t mib, int reps)
{
	const char *be = space_backend();
	uint8_t *b = buf_alloc(mib * MIB, 1);
	uint64_t ns;
	char name[96];
	int r, n = 0;

	if (!be)
		be = "none";
	printf("I backend %s\n", be);
	fprintf(stderr, "bench: fork+join, %zu MiB resident, backend %s, "
		"%d reps\n", mib, be, reps);
	snprintf(name, sizeof(name), "fork.%zu.%s", mib, be);
	raw_fork_ns();			/* warm up all three */
	raw_fork2_ns();
	if (det_fork_ns(name, &ns))
		return 1;
	for (r = 0; r < reps; r++) {
		if (r % 2) {
			smp[0][r] = (double)raw_fork_ns() / 1e3;
			smp[2][r] = (double)raw_fork2_ns() / 1e3;
		}
		if (det_fork_ns(name, &ns))
			break;
		smp[1][n++] = (double)ns / 1e3;
		if (r % 2 == 0) {
			smp[0][r] = (double)raw_fork_ns() / 1e3;
			smp[2][r] = (double)raw_fork2_ns() / 1e3;
		}
	}
	snprintf(name, sizeof(name), "fork.%zu.%s.raw", mib, be);
	report(name, "us", smp[0], r);
	snprintf(name, sizeof(name), "fork.%zu.%s.det", mib, be);
	report(name, "us", smp[1], n);
	snprintf(name, sizeof(name), "fork.%zu.%s.raw2", mib, be);
	report(name, "us", smp[2], r);
	munmap(b, mib * MIB);
	return n == reps ? 0 : 1;
}

/* ---- 2, 3. the byte merge vs memcpy / memcmp ---- */

/* merge_apply over len bytes, page by page; bytes written. */
static size_t
apply_pages(uint8_t *p, const uint8_t *s, const uint8_t *c, size_t len)
{
	size_t o, n = 0;

	for (o = 0; o < len; o += PG)
		n += merge_apply(p + o, s + o, c + o, PG);
	return n;
}

/*
 * What the join does with a page both sides changed: merge_conflicts,
 * then merge_apply, page by page.  Returns conflicting runs found; the
 * bytes written go to *applied.
 */
static size_t
byte_merge_pages(uint8_t *p, const uint8_t *s, const uint8_t *c,
		 size_t len, size_t *applied)
{
	struct merge_run runs[8];
	size_t o, nc = 0, n = 0;

	for (o = 0; o < len; o += PG) {
		nc += merge_conflicts(s + o, c + o, p + o, PG, runs, 8);
		n += merge_apply(p + o, s + o, c + o, PG);
	}
	*applied = n;
	return nc;
}

/* memcpy over len bytes, page by page. */
static void
copy_pages(uint8_t *d, const uint8_t *s, size_t len)
{
	size_t o;

	for (o = 0; o < len; o += PG)
		memcpy(d + o, s + o, PG);
}

/* memcmp page by page; the number of pages that differ. */
static int
cmp_pages(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t o;
	int n = 0;

	for (o = 0; o < len; o += PG)
		n += memcmp(a + o, b + o, PG) != 0;
	return n;
}

/* Milliseconds since t0. */
static double
ms_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e6;
}

/*
 * bench merge REPS.  Series: 0 merge_apply (best impl), 1 memcpy,
 * 2 byte merge (best), 3 memcmp, 4 merge_apply (scalar), 5 byte merge
 * (scalar); all in ms for 64 MiB.
 */
static int
cmd_merge(int reps)
{
	size_t len = MERGE_BYTES, i, got, nc, bad = 0;
	uint8_t *snap = buf_alloc(len, 0), *child = buf_alloc(len, 0x5a);
	uint8_t *par = buf_alloc(len, 0), *dst = buf_alloc(len, 0);
	uint8_t *both_p = buf_alloc(len, 0), *both_c = buf_alloc(len, 0);
	uint8_t *zero = buf_alloc(len, 0);
	const char *best = merge_impl(0);
	uint64_t t0;
	int r, sc;

	printf("I merge_impl %s\n", best);
	fprintf(stderr, "bench: merge vs memcpy/memcmp, 64 MiB, %d reps\n",
		reps);
	/* Both sides changed every page, in interleaved bytes. */
	for (i = 0; i < len; i += 2) {
		both_p[i] = 1;
		both_c[i + 1] = 2;
	}
	for (r = 0; r < reps; r++) {
		for (sc = 0; sc < 2; sc++) {
			merge_impl(sc);
			memcpy(par, snap, len);
			t0 = now_ns();
			got = apply_pages(par, snap, child, len);
			smp[sc ? 4 : 0][r] = ms_since(t0);
			bad += got != len || par[len - 1] != 0x5a;
			memcpy(par, both_p, len);
			t0 = now_ns();
			nc = byte_merge_pages(par, snap, both_c, len, &got);
			smp[sc ? 5 : 2][r] = ms_since(t0);
			bad += nc != 0 || got != len / 2 || par[len - 1] != 2;
		}
		merge_impl(0);
		t0 = now_ns();
		copy_pages(dst, child, len);
		smp[1][r] = ms_since(t0);
		t0 = now_ns();
		sink += cmp_pages(snap, zero, len);
		smp[3][r] = ms_since(t0);
	}
	if (bad || sink)
		fprintf(stderr, "bench: merge: WRONG RESULTS (%zu)\n", bad);
	report("merge.apply", "ms", smp[0], reps);
	report("merge.memcpy", "ms", smp[1], reps);
	report("merge.both", "ms", smp[2], reps);
	report("merge.memcmp", "ms", smp[3], reps);
	report("merge.apply_scalar", "ms", smp[4], reps);
	report("merge.both_scalar", "ms", smp[5], reps);
	munmap(snap, len);
	munmap(child, len);
	munmap(par, len);
	munmap(dst, len);
	munmap(both_p, len);
	munmap(both_c, len);
	munmap(zero, len);
	return bad ? 1 : 0;
}

/* ---- children that write, and a timed join ---- */

/* Tell the parent the writes are done (the join is timed from then). */
static void
signal_done(void)
{
	char c = 'x';

	if (cpipe >= 0 && write(cpipe, &c, 1) != 1)
		sink = 1;
}

/* det child: rewrite cpages whole pages of cbuf. */
static void
writer_whole(void *arg)
{
	(void)arg;
	memset(cbuf, cval, cpages * PG);
	signal_done();
}

/* det child: write one byte to each of cpages pages of cbuf. */
static void
writer_bytes(void *arg)
{
	size_t i;

	(void)arg;
	for (i = 0; i < cpages; i++)
		cbuf[i * PG] = cval;
	signal_done();
}

/* The first-write loop: one byte to each of cpages pages; ns taken. */
static uint64_t
write_loop_ns(void)
{
	uint64_t t0 = now_ns();
	size_t i;

	for (i = 0; i < cpages; i++)
		((volatile uint8_t *)cbuf)[i * PG] = cval;
	return now_ns() - t0;
}

/* det child: the first-write loop, its time published in child_ns. */
static void
writer_timed(void *arg)
{
	(void)arg;
	child_ns = write_loop_ns();
}

/*
 * Fork a det child running fn, wait until it has done its writes (it
 * writes a byte to a pipe), then time det_join alone into *join_ns, and
 * the merge part of it (space_stats()->merge_ns) into *merge_ns.
 * Returns 0, or -1 (reported).
 */
static int
timed_join(const char *name, det_fn fn, struct det_status *st,
	   uint64_t *join_ns, uint64_t *merge_ns)
{
	uint64_t m0;
	int pfd[2], rc;
	char c;

	if (pipe(pfd) < 0)
		die("pipe");
	cpipe = pfd[1];
	rc = det_fork(0, fn, NULL);
	close(pfd[1]);
	if (rc != DET_OK) {
		close(pfd[0]);
		fail(name, "det_fork", rc, NULL);
		return -1;
	}
	if (read(pfd[0], &c, 1) != 1)
		fprintf(stderr, "bench: %s: child did not signal\n", name);
	close(pfd[0]);
	m0 = space_stats()->merge_ns;
	rc = join0(name, st, join_ns);
	*merge_ns = space_stats()->merge_ns - m0;
	return rc;
}

/* bench join64 REPS: det_join of a child that rewrote 64 MiB. */
static int
cmd_join64(int reps)
{
	struct det_status st;
	uint64_t jn, mn;
	int r, n = 0;

	printf("I backend %s\n", space_backend() ? space_backend() : "none");
	fprintf(stderr, "bench: join of 64 MiB of child-only pages, %d reps\n",
		reps);
	cbuf = buf_alloc(MERGE_BYTES, 0);
	cpages = MERGE_BYTES / PG;
	for (r = 0; r < reps; r++) {
		cval = (uint8_t)(r + 1);
		if (timed_join("join64", writer_whole, &st, &jn, &mn))
			break;
		if (st.bytes_merged != MERGE_BYTES || cbuf[7] != cval)
			fprintf(stderr, "bench: join64: merged %zu bytes, "
				"%zu pages dirty\n", st.bytes_merged,
				st.pages_dirty);
		smp[0][n] = (double)jn / 1e6;
		smp[1][n++] = (double)mn / 1e6;
	}
	printf("I join64.pages_dirty %zu\n", st.pages_dirty);
	report("join64.join", "ms", smp[0], n);
	report("join64.merge", "ms", smp[1], n);
	munmap(cbuf, MERGE_BYTES);
	return n == reps ? 0 : 1;
}

/* ---- 4. first write to a page in a child ---- */

/* The baseline: the same loop in a plain fork()ed child; ns. */
static uint64_t
raw_cow_ns(void)
{
	uint64_t ns = 0;
	int pfd[2];
	pid_t pid;

	if (pipe(pfd) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		ns = write_loop_ns();
		_exit(write(pfd[1], &ns, sizeof(ns)) == sizeof(ns) ? 0 : 1);
	}
	close(pfd[1]);
	if (read(pfd[0], &ns, sizeof(ns)) != sizeof(ns))
		die("read from the forked child");
	close(pfd[0]);
	reap(pid);
	return ns;
}

/*
 * bench firstwrite REPS.  Series in ns per page: 0 plain write to a
 * writable page, 1 plain fork() child (COW), 2 det child.
 */
static int
cmd_firstwrite(int reps)
{
	const char *be = space_backend();
	struct det_status st;
	char name[64];
	uint64_t jn;
	int r, rc, n = 0;

	if (!be) {
		printf("F firstwrite.%s backend unusable\n",
		       getenv("DET_DIRTY") ? getenv("DET_DIRTY") : "?");
		return 1;
	}
	printf("I backend %s\n", be);
	fprintf(stderr, "bench: first write, backend %s, %lu pages, %d reps\n",
		be, FW_PAGES, reps);
	snprintf(name, sizeof(name), "firstwrite.%s", be);
	cbuf = buf_alloc(FW_PAGES * PG, 1);
	cpages = FW_PAGES;
	for (r = 0; r < reps; r++) {
		cval = (uint8_t)(r + 2);
		write_loop_ns();	/* every page writable again */
		smp[0][r] = (double)write_loop_ns() / FW_PAGES;
		smp[1][r] = (double)raw_cow_ns() / FW_PAGES;
		rc = det_fork(0, writer_timed, NULL);
		if (rc != DET_OK) {
			fail(name, "det_fork", rc, NULL);
			break;
		}
		if (join0(name, &st, &jn))
			break;
		smp[2][n++] = (double)child_ns / FW_PAGES;
	}
	snprintf(name, sizeof(name), "firstwrite.%s.plain", be);
	report(name, "ns/page", smp[0], r);
	snprintf(name, sizeof(name), "firstwrite.%s.rawcow", be);
	report(name, "ns/page", smp[1], r);
	snprintf(name, sizeof(name), "firstwrite.%s.det", be);
	report(name, "ns/page", smp[2], n);
	munmap(cbuf, FW_PAGES * PG);
	return n == reps ? 0 : 1;
}

/* ---- 5. join time against the number of dirty pages ---- */

/*
 * Syscall-heavy children: n calls of getuid (the cheapest call; on the
 * allowlist without conditions, so the kernel's seccomp cache answers
 * without running the filter), or n 4 KiB reads of /dev/zero (a call
 * doing work).  DET_BENCH_ALLOWALL (with DET_NO_SANDBOX) loads an empty
 * allow-everything filter instead: the cost of having seccomp at all.
 */
static int zero_fd = -1;

static void
syscall_child(void *arg)
{
	long i, n = (long)arg;
	scmp_filter_ctx ctx;

	if (getenv("DET_BENCH_ALLOWALL")) {
		ctx = seccomp_init(SCMP_ACT_ALLOW);
		if (!ctx || seccomp_load(ctx) < 0)
			det_exit(3);
		seccomp_release(ctx);
	}
	if (n > 0)
		for (i = 0; i < n; i++)
			sink += (int)syscall(SYS_getuid);
	else
		for (i = 0; i < -n; i++)
			sink += (int)read(zero_fd, sink_page, PG);
}

/* ns per call of the child making n calls (n < 0: reads), against the
 * same fork+join of a child making none. */
static double
syscall_ns(long n)
{
	struct det_status st;
	uint64_t t0, t1, t2;

	t0 = now_ns();
	if (det_fork(0, syscall_child, (void *)0L) != DET_OK ||
	    det_join(0, &st) != DET_OK || st.exit_code)
		die("syscalls: empty child");
	t1 = now_ns();
	if (det_fork(0, syscall_child, (void *)n) != DET_OK ||
	    det_join(0, &st) != DET_OK || st.exit_code)
		die("syscalls: busy child");
	t2 = now_ns();
	return ((double)(t2 - t1) - (double)(t1 - t0)) / (double)labs(n);
}

/*
 * bench syscalls REPS: ns per call in a child making 2 M getuid calls
 * and one making 500 k reads; bench.sh runs it under the sandbox,
 * without it, and with an empty filter.
 */
static int
cmd_syscalls(int reps)
{
	const char *mode = getenv("DET_BENCH_ALLOWALL") ? "allowall" :
			   getenv("DET_NO_SANDBOX") ? "unfiltered" :
			   "filtered";
	double null[MAX_REPS], rd[MAX_REPS];
	char name[64];
	int r;

	zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (zero_fd < 0)
		die("syscalls: /dev/zero");
	for (r = 0; r < reps; r++) {
		null[r] = syscall_ns(2000000);
		rd[r] = syscall_ns(-500000);
	}
	snprintf(name, sizeof(name), "syscall.null.%s", mode);
	report(name, "ns", null, reps);
	snprintf(name, sizeof(name), "syscall.read4k.%s", mode);
	report(name, "ns", rd, reps);
	close(zero_fd);
	return 0;
}

/* bench joinscale REPS */
static int
cmd_joinscale(int reps)
{
	static const size_t sizes[] = { 1, 16, 256, 4096, 65536, 262144 };
	struct det_status st;
	uint64_t jn, mn;
	char name[64];
	size_t k;
	int r, n, bad = 0;

	printf("I backend %s\n", space_backend() ? space_backend() : "none");
	cbuf = buf_alloc(SCALE_PAGES * PG, 0);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		fprintf(stderr, "bench: join of %zu dirty pages (1 GiB "
			"buffer), %d reps\n", sizes[k], reps);
		snprintf(name, sizeof(name), "joinscale.%zu", sizes[k]);
		cpages = sizes[k];
		for (r = n = 0; r < reps; r++) {
			cval = (uint8_t)(r + 1);
			if (timed_join(name, writer_bytes, &st, &jn, &mn))
				continue;
			smp[0][n] = (double)jn / 1e6;
			smp[1][n++] = (double)mn / 1e6;
		}
		bad |= n != reps;
		printf("I %s.pages_dirty %zu\n", name, st.pages_dirty);
		snprintf(name, sizeof(name), "joinscale.%zu.join", sizes[k]);
		report(name, "ms", smp[0], n);
		snprintf(name, sizeof(name), "joinscale.%zu.merge", sizes[k]);
		report(name, "ms", smp[1], n);
	}
	munmap(cbuf, SCALE_PAGES * PG);
	return bad;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: bench fork MIB REPS | merge REPS | "
		"join64 REPS | firstwrite REPS | joinscale REPS | "
		"syscalls REPS\n");
	exit(2);
}

/* A positive integer argument, or usage(). */
static long
num_arg(const char *s, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == 0 || *end || v <= 0 || v > max)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (strcmp(cmd, "fork") == 0 && argc == 4)
		return cmd_fork((size_t)num_arg(argv[2], 16384),
				(int)num_arg(argv[3], MAX_REPS));
	if (argc != 3)
		usage();
	if (strcmp(cmd, "merge") == 0)
		return cmd_merge((int)num_arg(argv[2], MAX_REPS));
	if (strcmp(cmd, "join64") == 0)
		return cmd_join64((int)num_arg(argv[2], MAX_REPS));
	if (strcmp(cmd, "firstwrite") == 0)
		return cmd_firstwrite((int)num_arg(argv[2], MAX_REPS));
	if (strcmp(cmd, "joinscale") == 0)
		return cmd_joinscale((int)num_arg(argv[2], MAX_REPS));
	if (strcmp(cmd, "syscalls") == 0)
		return cmd_syscalls((int)num_arg(argv[2], MAX_REPS));
	usage();
}
