/*
 * check_det.c -- integration tests of libdet: the rules of DESIGN §3
 * (snapshot, isolation, merge, atomic joins), faults, nesting, barriers.
 *
 * Run once per dirty-page backend (tests/run.sh sets DET_DIRTY).  Every
 * test builds memory, keeps an oracle copy of what must result, forks
 * and joins, and compares every byte.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "det.h"
#include "testutil.h"

#define BIG	(4 << 20)

/* Merged memory of every kind: data, bss, heap, anonymous mmap. */
static long data_word = 7;
static long counter;
static unsigned char bss_buf[3 * 4096 + 100];
static unsigned char *heap_buf;		/* malloc'ed before the fork */
static unsigned char *anon_buf;		/* mmap'ed before the fork */

static void
setup(void)
{
	det_config.quiet = 1;
	heap_buf = calloc(1, 64 << 10);
	anon_buf = mmap(NULL, BIG, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(anon_buf, MAP_FAILED);
}

static void
teardown(void)
{
	free(heap_buf);
	munmap(anon_buf, BIG);
}

/* ---- rule 1: snapshot at fork ---------------------------------------- */

struct snap_arg {
	long seen_data;
	long seen_stack;
	long *stack_ptr;
};

static void
snap_child(void *p)
{
	struct snap_arg *a = p;

	/* The parent changes everything right after the fork: the child
	 * must see the fork-time values.  Report them through bss. */
	usleep(20000);
	bss_buf[0] = (unsigned char)data_word;
	bss_buf[1] = (unsigned char)*a->stack_ptr;
	bss_buf[2] = anon_buf[5];
}

START_TEST(test_snapshot_at_fork)
{
	long on_stack = 42;
	struct snap_arg a = { .stack_ptr = &on_stack };

	data_word = 7;
	anon_buf[5] = 9;
	ck_assert_int_eq(det_fork(0, snap_child, &a), DET_OK);
	data_word = 70;
	on_stack = 420;
	anon_buf[5] = 90;
	ck_assert_int_eq(det_join(0, NULL), DET_OK);
	ck_assert_int_eq(bss_buf[0], 7);
	ck_assert_int_eq(bss_buf[1], 42);
	ck_assert_int_eq(bss_buf[2], 9);
	ck_assert_int_eq(data_word, 70);
	ck_assert_int_eq(anon_buf[5], 90);
}
END_TEST

/* ---- rule 2: isolation ----------------------------------------------- */

static void
iso_writer(void *p)
{
	(void)p;
	anon_buf[100] = 1;
	heap_buf[100] = 1;
	/* Stay alive while the parent and the sibling look. */
	usleep(50000);
}

static void
iso_reader(void *p)
{
	(void)p;
	usleep(25000);
	/* The sibling wrote 1 already; we must still see 0. */
	bss_buf[7] = (unsigned char)(anon_buf[100] + heap_buf[100] + 10);
}

START_TEST(test_isolation)
{
	ck_assert_int_eq(det_fork(0, iso_writer, NULL), DET_OK);
	ck_assert_int_eq(det_fork(1, iso_reader, NULL), DET_OK);
	usleep(25000);
	ck_assert_int_eq(anon_buf[100], 0);
	ck_assert_int_eq(heap_buf[100], 0);
	ck_assert_int_eq(det_join(0, NULL), DET_OK);
	ck_assert_int_eq(anon_buf[100], 1);
	ck_assert_int_eq(det_join(1, NULL), DET_OK);
	ck_assert_int_eq(bss_buf[7], 10);
}
END_TEST

/* ---- rule 3: byte merge ---------------------------------------------- */

static void
bytes_child(void *p)
{
	unsigned char *b = p;
	size_t i;

	/* Even bytes of the region; the parent writes the odd ones. */
	for (i = 0; i < 3 * 4096; i += 2)
		b[i] = (unsigned char)(i * 7 + 1);
}

START_TEST(test_byte_merge_same_pages)
{
	unsigned char *bufs[] = { bss_buf, heap_buf, anon_buf };
	unsigned char oracle[3 * 4096];
	struct det_status st;
	int k;
	size_t i;

	for (k = 0; k < 3; k++) {
		unsigned char *b = bufs[k];

		memset(b, 0x55, sizeof(oracle));
		memcpy(oracle, b, sizeof(oracle));
		ck_assert_int_eq(det_fork(0, bytes_child, b), DET_OK);
		for (i = 1; i < sizeof(oracle); i += 2)
			b[i] = oracle[i] = (unsigned char)(i * 3);
		for (i = 0; i < sizeof(oracle); i += 2)
			oracle[i] = (unsigned char)(i * 7 + 1);
		ck_assert_int_eq(det_join(0, &st), DET_OK);
		ck_assert_int_eq(st.code, DET_OK);
		ck_assert_uint_eq(st.nconflicts, 0);
		ck_assert_uint_ge(st.pages_dirty, 3);
		ck_assert_mem_oracle(b, oracle, sizeof(oracle));
	}
}
END_TEST

static void
page_child(void *p)
{
	(void)p;
	memset(anon_buf + 8192, 0xab, 5 * 4096);
	data_word = 1234;
	bss_buf[4096 * 3 + 99] = 3;	/* last byte of bss_buf */
}

START_TEST(test_child_only_pages)
{
	struct det_status st;
	unsigned char *oracle = malloc(BIG);

	memcpy(oracle, anon_buf, BIG);
	memset(oracle + 8192, 0xab, 5 * 4096);
	ck_assert_int_eq(det_fork(3, page_child, NULL), DET_OK);
	ck_assert_int_eq(det_join(3, &st), DET_OK);
	ck_assert_mem_oracle(anon_buf, oracle, BIG);
	ck_assert_int_eq(data_word, 1234);
	ck_assert_int_eq(bss_buf[4096 * 3 + 99], 3);
	ck_assert_uint_ge(st.pages_dirty, 7);
	ck_assert_uint_ge(st.bytes_merged, 5 * 4096);
	free(oracle);
}
END_TEST

static void
inc_child(void *p)
{
	(void)p;
	counter++;
	anon_buf[0] = 1;	/* a non-conflicting write */
}

START_TEST(test_conflict_parent_and_child)
{
	struct det_status st;

	counter = 5;
	ck_assert_int_eq(det_fork(0, inc_child, NULL), DET_OK);
	counter = 6;		/* the same new value: still a conflict */
	ck_assert_int_eq(det_join(0, &st), DET_ECONFLICT);
	ck_assert_int_eq(st.code, DET_ECONFLICT);
	ck_assert_uint_eq(st.nconflicts, 1);
	ck_assert_ptr_eq((void *)st.conflicts[0].addr, &counter);
	ck_assert_uint_eq(st.conflicts[0].len, 1);
	ck_assert_str_eq(st.conflicts[0].where, "counter+0 in check_det.c");
	ck_assert_uint_eq(st.bytes_merged, 0);
	/* Atomic: the child's other write is not applied either. */
	ck_assert_int_eq(anon_buf[0], 0);
	ck_assert_int_eq(counter, 6);
}
END_TEST

START_TEST(test_conflict_siblings)
{
	struct det_status st;

	counter = 0;
	ck_assert_int_eq(det_fork(0, inc_child, NULL), DET_OK);
	ck_assert_int_eq(det_fork(1, inc_child, NULL), DET_OK);
	ck_assert_int_eq(det_join(0, &st), DET_OK);
	ck_assert_int_eq(det_join(1, &st), DET_ECONFLICT);
	/* counter (bss) and anon_buf[0] (a mapping above it). */
	ck_assert_uint_eq(st.nconflicts, 2);
	ck_assert_ptr_eq((void *)st.conflicts[0].addr, &counter);
	ck_assert_ptr_eq((void *)st.conflicts[1].addr, anon_buf);
	ck_assert_int_eq(counter, 1);
}
END_TEST

static void
wide_child(void *p)
{
	size_t i;

	(void)p;
	/* Ten separate runs on both sides, one run across a page end. */
	for (i = 0; i < 10; i++)
		anon_buf[i * 100] = 1;
	memset(anon_buf + 4096 - 3, 2, 6);
	anon_buf[50000] = 9;
}

START_TEST(test_conflict_runs_and_partial)
{
	struct det_status st;
	size_t i;

	for (i = 0; i < 2; i++) {
		memset(anon_buf, 0, 8192);
		anon_buf[50000] = 0;
		det_config.apply_partial = (int)i;
		ck_assert_int_eq(det_fork(0, wide_child, NULL), DET_OK);
		for (size_t j = 0; j < 10; j++)
			anon_buf[j * 100] = 5;
		memset(anon_buf + 4096 - 3, 7, 6);
		ck_assert_int_eq(det_join(0, &st), DET_ECONFLICT);
		ck_assert_uint_eq(st.nconflicts, 11);
		ck_assert_ptr_eq((void *)st.conflicts[0].addr, anon_buf);
		ck_assert_ptr_eq((void *)st.conflicts[7].addr, anon_buf + 700);
		/* Sorted by address: the cross-page run is the 11th. */
		ck_assert_int_eq(anon_buf[0], 5);
		ck_assert_int_eq(anon_buf[4096], 7);
		ck_assert_int_eq(anon_buf[50000], i ? 9 : 0);
		ck_assert_uint_eq(st.bytes_merged, i ? 4096 : 0);
	}
	det_config.apply_partial = 0;
}
END_TEST

START_TEST(test_conflict_run_across_pages)
{
	struct det_status st;

	memset(anon_buf, 0, 8192);
	ck_assert_int_eq(det_fork(0, wide_child, NULL), DET_OK);
	memset(anon_buf + 4096 - 3, 7, 6);
	ck_assert_int_eq(det_join(0, &st), DET_ECONFLICT);
	ck_assert_uint_eq(st.nconflicts, 1);
	ck_assert_ptr_eq((void *)st.conflicts[0].addr, anon_buf + 4093);
	ck_assert_uint_eq(st.conflicts[0].len, 6);
}
END_TEST

/* ---- rule 4 and faults ----------------------------------------------- */

static void
crash_child(void *p)
{
	(void)p;
	anon_buf[1] = 1;
	raise(SIGSEGV);
}

static void
small_child(void *p)
{
	anon_buf[(long)p] = 3;
}

START_TEST(test_crash_applies_nothing)
{
	struct det_status st;

	ck_assert_int_eq(det_fork(0, small_child, (void *)2L), DET_OK);
	ck_assert_int_eq(det_fork(1, crash_child, NULL), DET_OK);
	ck_assert_int_eq(det_fork(2, small_child, (void *)3L), DET_OK);
	ck_assert_int_eq(det_join(0, &st), DET_OK);
	ck_assert_int_eq(det_join(1, &st), DET_EFAULT);
	ck_assert_int_eq(st.signal, SIGSEGV);
	ck_assert_int_eq(anon_buf[1], 0);
	ck_assert_int_eq(det_join(2, &st), DET_OK);
	ck_assert_int_eq(anon_buf[2], 3);
	ck_assert_int_eq(anon_buf[3], 3);
}
END_TEST

static void
exit_child(void *p)
{
	anon_buf[9] = 9;
	det_exit((int)(long)p);
}

static void
libc_exit_child(void *p)
{
	(void)p;
	anon_buf[10] = 1;
	exit(3);
}

START_TEST(test_exit_codes)
{
	struct det_status st;

	ck_assert_int_eq(det_fork(0, exit_child, (void *)77L), DET_OK);
	ck_assert_int_eq(det_join(0, &st), DET_OK);
	ck_assert_int_eq(st.exit_code, 77);
	ck_assert_int_eq(anon_buf[9], 9);
	ck_assert_int_eq(det_fork(0, libc_exit_child, NULL), DET_OK);
	ck_assert_int_eq(det_join(0, &st), DET_EFAULT);
	ck_assert_int_eq(st.exit_code, 3);
	ck_assert_int_eq(st.signal, 0);
	ck_assert_int_eq(anon_buf[10], 0);
}
END_TEST

START_TEST(test_bad_arguments)
{
	struct det_status st;

	ck_assert_int_eq(det_fork(256, small_child, NULL), DET_EINVAL);
	ck_assert_int_eq(det_fork(0, NULL, NULL), DET_EINVAL);
	ck_assert_int_eq(det_join(5, &st), DET_ENOCHILD);
	ck_assert_int_eq(st.code, DET_ENOCHILD);
	ck_assert_int_eq(det_join(1000, NULL), DET_EINVAL);
	ck_assert_int_eq(det_sync(7, NULL), DET_ENOCHILD);
	ck_assert_int_eq(det_fork_on(0, 1, small_child, NULL), DET_EINVAL);
	ck_assert_int_eq(det_barrier(), DET_EINVAL);	/* in the root */
	ck_assert_int_eq(det_fork(4, small_child, (void *)4L), DET_OK);
	ck_assert_int_eq(det_fork(4, small_child, (void *)4L), DET_EINVAL);
	ck_assert_int_eq(det_join(4, NULL), DET_OK);
	ck_assert_int_eq(det_join(4, NULL), DET_ENOCHILD);
	ck_assert_int_eq(det_fork_on(4, DET_NODE_LOCAL, small_child,
				     (void *)5L), DET_OK);
	ck_assert_int_eq(det_join(4, &st), DET_OK);
	ck_assert_uint_eq(st.node, DET_NODE_LOCAL);
	ck_assert_int_eq(anon_buf[5], 3);
}
END_TEST

/* ---- what is never merged -------------------------------------------- */

static void
private_child(void *p)
{
	long *parent_stack = p;
	char *mine;

	*parent_stack = 99;		/* stacks are never merged */
	mine = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mine[0] = 1;			/* the child's own mapping */
	errno = 1234;			/* libc TLS */
	anon_buf[11] = 11;
}

START_TEST(test_never_merged)
{
	long local = 5;
	struct det_status st;

	errno = 0;
	ck_assert_int_eq(det_fork(0, private_child, &local), DET_OK);
	errno = 4321;
	local = 6;
	ck_assert_int_eq(det_join(0, &st), DET_OK);
	ck_assert_int_eq(local, 6);
	ck_assert_int_eq(anon_buf[11], 11);
}
END_TEST

static void
chatty_child(void *p)
{
	int i;

	for (i = 0; i < 2000; i++)
		printf("child %ld line %d %s\n", (long)p, i, "xxxxxxxxxxxx");
	fprintf(stderr, "child %ld to stderr\n", (long)p);
	anon_buf[20 + (long)p] = 1;
}

START_TEST(test_printf_no_false_conflict)
{
	struct det_status st;
	long k;
	int i;

	for (k = 0; k < 4; k++)
		ck_assert_int_eq(det_fork((unsigned)k, chatty_child,
					  (void *)k), DET_OK);
	for (i = 0; i < 2000; i++)
		printf("parent line %d %s\n", i, "yyyyyyyyyyyy");
	for (k = 0; k < 4; k++) {
		ck_assert_int_eq(det_join((unsigned)k, &st), DET_OK);
		ck_assert_uint_eq(st.nconflicts, 0);
		ck_assert_int_eq(anon_buf[20 + k], 1);
	}
	fflush(stdout);
}
END_TEST

/* ---- nesting, barriers, parallel_for ---------------------------------- */

static void
grandchild(void *p)
{
	long k = (long)p;

	anon_buf[1000 + k] = (unsigned char)(det_depth() * 10 + det_self());
}

static void
nested_child(void *p)
{
	long k = (long)p, j;
	struct det_status st;

	for (j = 0; j < 3; j++)
		if (det_fork((unsigned)j, grandchild,
			     (void *)(k * 3 + j)) != DET_OK)
			det_exit(10);
	anon_buf[900 + k] = (unsigned char)(det_depth() * 10 + det_self());
	for (j = 0; j < 3; j++)
		if (det_join((unsigned)j, &st) != DET_OK)
			det_exit(20);
}

static void
nothing_child(void *p)
{
	(void)p;
}

/* A space's writes made before it forks (and joins, or leaves
 * unjoined) a child of its own must still reach its parent. */
static void
write_then_fork_child(void *p)
{
	anon_buf[4096 * 5] = 51;
	bss_buf[3] = 52;
	if (det_fork(0, nothing_child, NULL) != DET_OK)
		det_exit(1);
	if (p && det_join(0, NULL) != DET_OK)
		det_exit(2);
	anon_buf[4096 * 6] = 53;
}

START_TEST(test_nested_writes_before_fork)
{
	struct det_status st;
	long join = 0;

	for (join = 0; join < 2; join++) {
		memset(anon_buf, 0, 8 * 4096);
		bss_buf[3] = 0;
		ck_assert_int_eq(det_fork(0, write_then_fork_child,
					  (void *)join), DET_OK);
		ck_assert_int_eq(det_join(0, &st), DET_OK);
		ck_assert_int_eq(st.exit_code, 0);
		ck_assert_int_eq(anon_buf[4096 * 5], 51);
		ck_assert_int_eq(bss_buf[3], 52);
		ck_assert_int_eq(anon_buf[4096 * 6], 53);
	}
}
END_TEST

START_TEST(test_nested)
{
	struct det_status st;
	long k, j;

	ck_assert_uint_eq(det_depth(), 0);
	ck_assert_uint_eq(det_self(), 0);
	for (k = 0; k < 3; k++)
		ck_assert_int_eq(det_fork((unsigned)k, nested_child,
					  (void *)k), DET_OK);
	for (k = 0; k < 3; k++) {
		ck_assert_int_eq(det_join((unsigned)k, &st), DET_OK);
		ck_assert_int_eq(st.exit_code, 0);
	}
	for (k = 0; k < 3; k++) {
		ck_assert_int_eq(anon_buf[900 + k], 10 + k);
		for (j = 0; j < 3; j++)
			ck_assert_int_eq(anon_buf[1000 + k * 3 + j], 20 + j);
	}
}
END_TEST

static void
barrier_child(void *p)
{
	long k = (long)p, round;
	long on_stack = 1000 * k;

	for (round = 0; round < 4; round++) {
		/* Each round: read the sibling's previous value (merged by
		 * the parent at the last sync), write our own slot. */
		long other = ((long *)bss_buf)[1 - k];

		((long *)bss_buf)[k] = other + 1 + on_stack;
		on_stack++;
		if (det_barrier() != DET_OK)
			det_exit(50);
	}
	((long *)bss_buf)[2 + k] = on_stack;
}

START_TEST(test_barrier_sync)
{
	long *v = (long *)bss_buf, sa = 0, sb = 1000;
	long seen_by_0 = 0, seen_by_1 = 0;	/* each child's view */
	int round;

	memset(bss_buf, 0, 64);
	ck_assert_int_eq(det_fork(0, barrier_child, (void *)0L), DET_OK);
	ck_assert_int_eq(det_fork(1, barrier_child, (void *)1L), DET_OK);
	for (round = 0; round < 4; round++) {
		long na = seen_by_0 + 1 + sa++, nb = seen_by_1 + 1 + sb++;

		/* Child 0 resumes from the memory of this sync: it sees
		 * v[1] before child 1's publish of this round. */
		ck_assert_int_eq(det_sync(0, NULL), DET_OK);
		ck_assert_int_eq(v[0], na);
		seen_by_0 = v[1];
		ck_assert_int_eq(det_sync(1, NULL), DET_OK);
		ck_assert_int_eq(v[1], nb);
		seen_by_1 = v[0];
	}
	ck_assert_int_eq(det_join(0, NULL), DET_OK);
	ck_assert_int_eq(det_join(1, NULL), DET_OK);
	ck_assert_int_eq(v[2], 4);
	ck_assert_int_eq(v[3], 1004);
}
END_TEST

static void
square(long i, void *arg)
{
	((long *)arg)[i] = i * i;
}

START_TEST(test_parallel_for)
{
	long *out = (long *)anon_buf;
	long i;

	ck_assert_int_eq(det_parallel_for(0, 1000, 7, square, out), DET_OK);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(out[i], i * i);
	ck_assert_int_eq(det_parallel_for(0, 10, 0, square, out), DET_EINVAL);
	ck_assert_int_eq(det_parallel_for(5, 4, 2, square, out), DET_EINVAL);
}
END_TEST

/* Children of this process still around (running or zombie). */
static int
count_children(void)
{
	char path[64];
	FILE *f;
	int n = 0, c, prev = ' ';

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", getpid());
	f = fopen(path, "r");
	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF) {
		if (c != ' ' && prev == ' ')
			n++;
		prev = c;
	}
	fclose(f);
	return n;
}

START_TEST(test_many_rounds_bounded_processes)
{
	int round;

	for (round = 0; round < 300; round++) {
		ck_assert_int_eq(det_fork((unsigned)round % 3, small_child,
					  (void *)(long)(round % 50)), DET_OK);
		ck_assert_int_eq(det_join((unsigned)round % 3, NULL), DET_OK);
	}
	/* Joined children are reaped lazily, but never pile up. */
	ck_assert_int_le(count_children(), 64 + 1);
	ck_assert_int_eq(anon_buf[49], 3);
}
END_TEST

/*
 * The parent changes a few bytes between rounds -- in pages it changed
 * before (written in place: same frame, new bytes) and in new ones --
 * and each child changes other bytes of the same pages.  The snapshot
 * holder is brought up to date between rounds instead of forked anew;
 * a stale snapshot would show the parent's new bytes as the child's
 * and report them as a conflict.
 */
static void
patch_child(void *p)
{
	long r = (long)p;
	int k;

	for (k = 0; k < 4; k++)
		anon_buf[(size_t)(r % 8 + k) * 4096 + 100] = (unsigned char)r;
}

START_TEST(test_parent_changes_between_rounds)
{
	unsigned char want[12][2];
	struct det_status st;
	long r;
	int k;

	memset(want, 0, sizeof(want));
	for (r = 1; r <= 60; r++) {
		for (k = 0; k < 4; k++) {
			size_t pg = (size_t)(r % 12 + k) % 12;

			anon_buf[pg * 4096 + 7] = (unsigned char)(r + k);
			want[pg][0] = (unsigned char)(r + k);
		}
		ck_assert_int_eq(det_fork(0, patch_child, (void *)r), DET_OK);
		ck_assert_int_eq(det_join(0, &st), DET_OK);
		ck_assert_uint_eq(st.nconflicts, 0);
		for (k = 0; k < 4; k++)
			want[r % 8 + k][1] = (unsigned char)r;
		for (k = 0; k < 12; k++) {
			ck_assert_uint_eq(anon_buf[(size_t)k * 4096 + 7],
					  want[k][0]);
			ck_assert_uint_eq(anon_buf[(size_t)k * 4096 + 100],
					  want[k][1]);
		}
	}
}
END_TEST

/* ---- scale: many children, many pages, huge pages --------------------- */

static void
stripe_child(void *p)
{
	long k = (long)p;
	size_t i;

	for (i = (size_t)k * 4096; i < BIG; i += 64 * 4096)
		memset(anon_buf + i, (int)k + 1, 4096);
}

START_TEST(test_many_children_many_pages)
{
	struct det_status st;
	long k;
	size_t i;

	for (k = 0; k < 64; k++)
		ck_assert_int_eq(det_fork((unsigned)k, stripe_child,
					  (void *)k), DET_OK);
	for (k = 0; k < 64; k++) {
		ck_assert_int_eq(det_join((unsigned)k, &st), DET_OK);
		ck_assert_uint_ge(st.pages_dirty, BIG / 4096 / 64);
	}
	for (i = 0; i < BIG; i++)
		if (anon_buf[i] != (unsigned char)((i / 4096) % 64 + 1))
			ck_abort_msg("byte %zu is %d", i, anon_buf[i]);
}
END_TEST

#define HUGE_LEN	(16UL << 20)

static void
huge_child(void *p)
{
	unsigned char *h = p;
	size_t i;

	for (i = 4096 * 3 + 17; i < HUGE_LEN; i += 2 * 1024 * 1024 + 4096)
		h[i] = 0xee;
}

START_TEST(test_transparent_huge_pages)
{
	unsigned char *h, *oracle;
	size_t i;

	h = mmap(NULL, HUGE_LEN, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(h, MAP_FAILED);
	madvise(h, HUGE_LEN, MADV_HUGEPAGE);
	memset(h, 0x11, HUGE_LEN);
	oracle = malloc(HUGE_LEN);
	memcpy(oracle, h, HUGE_LEN);
	ck_assert_int_eq(det_fork(0, huge_child, h), DET_OK);
	for (i = 100; i < HUGE_LEN; i += 3 * 1024 * 1024)
		h[i] = oracle[i] = 0x22;
	for (i = 4096 * 3 + 17; i < HUGE_LEN; i += 2 * 1024 * 1024 + 4096)
		oracle[i] = 0xee;
	ck_assert_int_eq(det_join(0, NULL), DET_OK);
	ck_assert_mem_oracle(h, oracle, HUGE_LEN);
	free(oracle);
	munmap(h, HUGE_LEN);
}
END_TEST

/* ---- seeded random runs against a reference model --------------------- */

#define RND_LEN		(64 * 1024)
#define RND_KIDS	6

struct rnd_plan {
	uint64_t seed;
	int nwrites;
};

/* Write nwrites random (offset, value) pairs drawn from seed. */
static void
rnd_apply(unsigned char *b, uint64_t seed, int n)
{
	uint64_t s = seed | 1;
	int i;

	for (i = 0; i < n; i++) {
		uint64_t r = test_rand(&s);
		size_t off = (size_t)(r % RND_LEN);
		size_t len = 1 + (size_t)((r >> 32) % 16);

		if (off + len > RND_LEN)
			len = RND_LEN - off;
		memset(b + off, (int)(r >> 56), len);
	}
}

static void
rnd_child(void *p)
{
	struct rnd_plan *pl = p;

	rnd_apply(anon_buf, pl->seed, pl->nwrites);
}

START_TEST(test_random_against_model)
{
	static unsigned char snap[RND_LEN], cur[RND_LEN], kid[RND_LEN];
	struct rnd_plan pl[RND_KIDS];
	unsigned long seed = test_seed("check_det random");
	uint64_t s = seed + (unsigned long)_i * 7919 + 1;
	int round, k;
	size_t i;

	for (round = 0; round < 8; round++) {
		rnd_apply(anon_buf, test_rand(&s), 2000);
		memcpy(snap, anon_buf, RND_LEN);
		for (k = 0; k < RND_KIDS; k++) {
			pl[k].seed = test_rand(&s);
			/* Few writes: some children stay conflict-free. */
			pl[k].nwrites = (int)(test_rand(&s) % 40);
			ck_assert_int_eq(det_fork((unsigned)k, rnd_child,
						  &pl[k]), DET_OK);
		}
		rnd_apply(anon_buf, test_rand(&s), (int)(test_rand(&s) % 5));
		memcpy(cur, anon_buf, RND_LEN);
		for (k = 0; k < RND_KIDS; k++) {
			int want = DET_OK, got;
			struct det_status st;

			memcpy(kid, snap, RND_LEN);
			rnd_apply(kid, pl[k].seed, pl[k].nwrites);
			for (i = 0; i < RND_LEN; i++)
				if (kid[i] != snap[i] && cur[i] != snap[i])
					want = DET_ECONFLICT;
			if (want == DET_OK)
				for (i = 0; i < RND_LEN; i++)
					if (kid[i] != snap[i])
						cur[i] = kid[i];
			got = det_join((unsigned)k, &st);
			ck_assert_msg(got == want, "seed %lu round %d child %d:"
				      " join %d, model %d", seed, round, k,
				      got, want);
			ck_assert_mem_oracle(anon_buf, cur, RND_LEN);
		}
	}
}
END_TEST

static Suite *
det_suite(void)
{
	Suite *s = suite_create("det");
	TCase *tc = tcase_create("rules");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_snapshot_at_fork);
	tcase_add_test(tc, test_isolation);
	tcase_add_test(tc, test_byte_merge_same_pages);
	tcase_add_test(tc, test_child_only_pages);
	tcase_add_test(tc, test_conflict_parent_and_child);
	tcase_add_test(tc, test_conflict_siblings);
	tcase_add_test(tc, test_conflict_runs_and_partial);
	tcase_add_test(tc, test_conflict_run_across_pages);
	tcase_add_test(tc, test_crash_applies_nothing);
	tcase_add_test(tc, test_exit_codes);
	tcase_add_test(tc, test_bad_arguments);
	tcase_add_test(tc, test_never_merged);
	tcase_add_test(tc, test_printf_no_false_conflict);
	tcase_add_test(tc, test_nested);
	tcase_add_test(tc, test_nested_writes_before_fork);
	tcase_add_test(tc, test_barrier_sync);
	tcase_add_test(tc, test_parallel_for);
	tcase_add_test(tc, test_many_children_many_pages);
	tcase_add_test(tc, test_many_rounds_bounded_processes);
	tcase_add_test(tc, test_parent_changes_between_rounds);
	tcase_add_test(tc, test_transparent_huge_pages);
	tcase_add_loop_test(tc, test_random_against_model, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return test_run(det_suite());
}
