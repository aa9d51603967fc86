/*
 * check_alloc.c -- the det allocator (user/lib/alloc.c): per-space heaps
 * at addresses that depend only on program order, blocks that survive
 * joins, frees of other spaces' blocks applied at the join, bad use,
 * aligned blocks, heap conflict reports.
 *
 * Outside sanitizer builds the tests call the standard names (malloc,
 * free, ...): libdet routes them.  Under AddressSanitizer, which owns
 * malloc, they call det_malloc & co.; the tests of routing itself are
 * left out there.  Every test keeps an oracle (contents derived from a
 * block id, sizes, liveness) and compares every byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "det.h"
#include "testutil.h"

#define HEAP_LO		0x200000000000UL	/* the det heap area */
#define HEAP_HI		0x400000000000UL
#define KIB		1024UL
#define MIB		(1024UL * 1024)

/* Called through volatile pointers: the compiler must not fold away or
 * warn about the allocation calls these tests make on purpose. */
#ifndef __SANITIZE_ADDRESS__
static void *(*volatile xmalloc)(size_t) = malloc;
static void *(*volatile xcalloc)(size_t, size_t) = calloc;
static void *(*volatile xrealloc)(void *, size_t) = realloc;
static void (*volatile xfree)(void *) = free;
static size_t (*volatile xusable)(void *) = malloc_usable_size;
static int (*volatile xmemalign)(void **, size_t, size_t) = posix_memalign;
#define SITE_MALLOC	malloc
#else
static void *(*volatile xmalloc)(size_t) = det_malloc;
static void *(*volatile xcalloc)(size_t, size_t) = det_calloc;
static void *(*volatile xrealloc)(void *, size_t) = det_realloc;
static void (*volatile xfree)(void *) = det_free;
static size_t (*volatile xusable)(void *) = det_malloc_usable_size;
static int (*volatile xmemalign)(void **, size_t, size_t) =
	det_posix_memalign;
#define SITE_MALLOC	det_malloc
#endif

static void
setup(void)
{
	det_config.quiet = 1;
}

/* ---- helpers ------------------------------------------------------------ */

/* splitmix64's finalizer: block ids and sizes from small numbers. */
static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The 8 bytes at offset i (a multiple of 8) of block `id`'s contents. */
static inline uint64_t
pat_word(uint64_t u, size_t i)
{
	return u ^ ((uint64_t)i * 0x9e3779b97f4a7c15ULL);
}

/* Fill n bytes at p with the contents of block `id`. */
static void
fill(void *p, size_t n, uint64_t id)
{
	unsigned char *b = p;
	uint64_t u = mix(id), w;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		w = pat_word(u, i);
		memcpy(b + i, &w, 8);
	}
	w = pat_word(u, i);
	memcpy(b + i, &w, n - i);
}

/* Offset of the first of the n bytes at p that is not block `id`'s, or
 * n when all are. */
static size_t
check(const void *p, size_t n, uint64_t id)
{
	const unsigned char *b = p;
	unsigned char want[8];
	uint64_t u = mix(id), w;
	size_t i, j;

	for (i = 0; i < n; i += 8) {
		w = pat_word(u, i);
		memcpy(want, &w, 8);
		for (j = 0; j < 8 && i + j < n; j++)
			if (b[i + j] != want[j])
				return i + j;
	}
	return n;
}

#define ck_assert_block(p, n, id) do {					\
	size_t n__ = (n), at__ = check((p), n__, (id));			\
	ck_assert_msg(at__ == n__, "block %p (%zu bytes, id %#llx): "	\
		      "byte %zu is wrong", (void *)(p), n__,		\
		      (unsigned long long)(id), at__);			\
} while (0)

/* Fail unless p is a det heap address, 16-byte aligned. */
#define ck_assert_heap(p) do {						\
	uintptr_t a__ = (uintptr_t)(p);					\
	ck_assert_msg(a__ >= HEAP_LO && a__ < HEAP_HI && !(a__ & 15),	\
		      "%p is not a det heap block", (void *)a__);	\
} while (0)

struct range {
	uintptr_t lo;
	uintptr_t hi;
};

static int
range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Fail unless the n ranges are pairwise disjoint (sorts them). */
static void
assert_disjoint(struct range *r, size_t n)
{
	size_t i;

	qsort(r, n, sizeof(*r), range_cmp);
	for (i = 1; i < n; i++)
		ck_assert_msg(r[i].lo >= r[i - 1].hi,
			      "blocks [%#lx, %#lx) and [%#lx, %#lx) overlap",
			      (unsigned long)r[i - 1].lo,
			      (unsigned long)r[i - 1].hi,
			      (unsigned long)r[i].lo, (unsigned long)r[i].hi);
}

/* Read fd to its end into buf (NUL-terminated; the rest is dropped). */
static size_t
read_all(int fd, char *buf, size_t len)
{
	char sink[256];
	size_t got = 0;
	ssize_t r;

	for (;;) {
		if (got + 1 < len)
			r = read(fd, buf + got, len - 1 - got);
		else
			r = read(fd, sink, sizeof(sink));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (got + 1 < len)
			got += (size_t)r;
	}
	buf[got] = '\0';
	return got;
}

/* Run fn(arg) in a plain fork()ed copy of this process, its stderr into
 * err; returns its wait status. */
static int
in_process(void (*fn)(void *), void *arg, char *err, size_t len)
{
	int fds[2], ws = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		fn(arg);
		_exit(0);
	}
	close(fds[1]);
	read_all(fds[0], err, len);
	close(fds[0]);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	return ws;
}

/* Drop AddressSanitizer's own warnings from err (its three-line note
 * about the stacks of spaces). */
static void
strip_sanitizer_lines(char *err)
{
#ifdef __SANITIZE_ADDRESS__
	char *in = err, *out = err, *nl;
	size_t len;

	for (; *in; in += len) {
		nl = strchr(in, '\n');
		len = nl ? (size_t)(nl - in) + 1 : strlen(in);
		if (strncmp(in, "==", 2) == 0 ||
		    strncmp(in, "False positive error reports", 28) == 0 ||
		    strncmp(in, "For details see https://github.com/google/"
			    "sanitizers", 52) == 0)
			continue;
		memmove(out, in, len);
		out += len;
	}
	*out = '\0';
#else
	(void)err;
#endif
}

/* Check that err is exactly one line "det: WHAT(P): ..." ending the
 * space of depth `depth` (P unchecked when NULL). */
static void
assert_bad_use_line(char *err, const char *what, const void *p,
		    unsigned depth)
{
	char want[128], tail[64];
	const char *nl;

	strip_sanitizer_lines(err);
	nl = strchr(err, '\n');

	if (p)
		snprintf(want, sizeof(want), "det: %s(%p): not a live block",
			 what, p);
	else
		snprintf(want, sizeof(want), "det: %s(0x", what);
	snprintf(tail, sizeof(tail), "(depth %u)\n", depth);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
		      "stderr \"%s\", expected it to start with \"%s\"", err,
		      want);
	ck_assert_msg(nl && nl[1] == '\0', "not one line: \"%s\"", err);
	ck_assert_msg(nl + 1 - strlen(tail) >= err &&
		      strcmp(nl + 1 - strlen(tail), tail) == 0,
		      "\"%s\" does not end with \"%s\"", err, tail);
}

/* fn(p) in a copy of this process must die by SIGABRT after one line
 * "det: WHAT(p): ...". */
static void
expect_abort(void (*fn)(void *), void *p, const char *what)
{
	char err[512];
	int ws = in_process(fn, p, err, sizeof(err));

	ck_assert_msg(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGABRT,
		      "%s(%p): wait status %#x, expected SIGABRT; stderr: %s",
		      what, p, ws, err);
	assert_bad_use_line(err, what, p, 0);
}

static void
free_it(void *p)
{
	xfree(p);
}

static void
realloc_it(void *p)
{
	(void)!xrealloc(p, 100);
}

static void
usable_it(void *p)
{
	(void)!xusable(p);
}

/* Resident memory of this process, in bytes. */
static size_t
rss_bytes(void)
{
	char buf[128];
	long size = 0, res = 0;
	int fd = open("/proc/self/statm", O_RDONLY);

	ck_assert_int_ge(fd, 0);
	read_all(fd, buf, sizeof(buf));
	close(fd);
	ck_assert_int_eq(sscanf(buf, "%ld %ld", &size, &res), 2);
	return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

/* Number of mappings of this process (lines of /proc/self/maps). */
static size_t
nmaps(void)
{
	char buf[4096];
	size_t n = 0;
	ssize_t r, i;
	int fd = open("/proc/self/maps", O_RDONLY);

	ck_assert_int_ge(fd, 0);
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < r; i++)
			n += buf[i] == '\n';
	close(fd);
	return n;
}

/* ---- lists and tables built by children --------------------------------- */

/* A list node: who made it, its size as allocated, then data. */
struct node {
	struct node *next;
	uint32_t owner;
	uint32_t idx;
	size_t size;
	unsigned char data[];
};

/* A hash table entry: 16 bytes, the smallest block. */
struct entry {
	struct entry *next;
	uint32_t key;
	uint32_t val;
};

struct table {
	size_t nb;
	size_t n;
	struct entry **b;
};

static uint64_t
node_id(uint32_t owner, uint32_t idx)
{
	return ((uint64_t)owner << 32) | idx;
}

/* Size of node idx of `owner`'s list: 24 B .. 64 KiB, mostly small. */
static size_t
node_size(uint32_t owner, uint32_t idx)
{
	uint64_t h = mix(node_id(owner, idx));

	if (idx % 23 == 7)
		return 65536;
	switch (h % 8) {
	case 0:
		return 65536 - (size_t)(h >> 8) % 40000;
	case 1:
	case 2:
		return sizeof(struct node) + (size_t)(h >> 8) % 3000;
	default:
		return sizeof(struct node) + (size_t)(h >> 8) % 200;
	}
}

/* A list of len nodes made by `owner`; NULL when malloc failed. */
static struct node *
build_list(uint32_t owner, uint32_t len)
{
	struct node *head = NULL, **tail = &head, *n;
	uint32_t i;
	size_t size;

	for (i = 0; i < len; i++) {
		size = node_size(owner, i);
		n = xmalloc(size);
		if (!n)
			return NULL;
		n->next = NULL;
		n->owner = owner;
		n->idx = i;
		n->size = size;
		fill(n->data, size - sizeof(*n), node_id(owner, i));
		*tail = n;
		tail = &n->next;
	}
	return head;
}

/* Walk len nodes of `owner` from *np (every field, every byte); leaves
 * *np at the node after them. */
static void
walk_list(struct node **np, uint32_t owner, uint32_t len)
{
	struct node *n = *np;
	uint32_t i;

	for (i = 0; i < len; i++, n = n->next) {
		ck_assert_msg(n != NULL, "list of %#x ends at %u of %u",
			      owner, i, len);
		ck_assert_heap(n);
		ck_assert_uint_eq(n->owner, owner);
		ck_assert_uint_eq(n->idx, i);
		ck_assert_uint_eq(n->size, node_size(owner, i));
		ck_assert_uint_ge(xusable(n), n->size);
		ck_assert_block(n->data, n->size - sizeof(*n),
				node_id(owner, i));
	}
	*np = n;
}

/* Free a list (its blocks may come from any space). */
static void
free_list(struct node *n)
{
	struct node *next;

	for (; n; n = next) {
		next = n->next;
		xfree(n);
	}
}

static uint32_t
table_key(uint32_t owner, uint32_t i)
{
	return owner * 100000 + i * 7 + 1;
}

static uint32_t
table_val(uint32_t key)
{
	return (uint32_t)mix(key);
}

/* A chained hash table of n keys; 0, or -1 when malloc failed. */
static int
build_table(struct table *t, uint32_t owner, size_t nb, size_t n)
{
	struct entry *e;
	uint32_t i, key;

	t->nb = nb;
	t->n = n;
	t->b = xcalloc(nb, sizeof(*t->b));
	if (!t->b)
		return -1;
	/* Insert in a scrambled order (149 is prime, n < 149). */
	for (i = 0; i < n; i++) {
		key = table_key(owner, (uint32_t)((i * 149 + 11) % n));
		e = xmalloc(sizeof(*e));
		if (!e)
			return -1;
		e->key = key;
		e->val = table_val(key);
		e->next = t->b[key % nb];
		t->b[key % nb] = e;
	}
	return 0;
}

/* Every key found with its value, every entry in its bucket. */
static void
walk_table(const struct table *t, uint32_t owner, size_t nb, size_t n)
{
	const struct entry *e;
	size_t i, count = 0;
	uint32_t key;

	ck_assert_uint_eq(t->nb, nb);
	ck_assert_uint_eq(t->n, n);
	ck_assert_heap(t->b);
	ck_assert_uint_ge(xusable(t->b), nb * sizeof(*t->b));
	for (i = 0; i < nb; i++)
		for (e = t->b[i]; e; e = e->next) {
			ck_assert_heap(e);
			ck_assert_uint_eq(e->key % nb, i);
			ck_assert_uint_eq(e->val, table_val(e->key));
			count++;
		}
	ck_assert_uint_eq(count, n);
	for (i = 0; i < n; i++) {
		key = table_key(owner, (uint32_t)i);
		for (e = t->b[key % nb]; e && e->key != key; e = e->next)
			;
		ck_assert_msg(e != NULL, "key %u of %u missing", key, owner);
	}
	key = table_key(owner, (uint32_t)n);
	for (e = t->b[key % nb]; e && e->key != key; e = e->next)
		;
	ck_assert_ptr_null(e);
}

static void
free_table(struct table *t)
{
	struct entry *e, *next;
	size_t i;

	for (i = 0; i < t->nb; i++)
		for (e = t->b[i]; e; e = next) {
			next = e->next;
			xfree(e);
		}
	xfree(t->b);
}

/* ---- 1: 64 children build lists and tables ------------------------------ */

#define NKIDS	64

static struct node *kid_list[NKIDS];
static struct table kid_table[NKIDS];

static uint32_t
kid_len(uint32_t k)
{
	return 10 + (k * 37) % 120;
}

static size_t
kid_buckets(uint32_t k)
{
	return 8 + k % 13;
}

static size_t
kid_entries(uint32_t k)
{
	return 40 + (k * 11) % 100;
}

static void
list_child(void *arg)
{
	uint32_t k = (uint32_t)(long)arg;

	kid_list[k] = build_list(k, kid_len(k));
	if (!kid_list[k])
		det_exit(1);
	if (build_table(&kid_table[k], k, kid_buckets(k), kid_entries(k)))
		det_exit(2);
}

/* Add the ranges of every block of list n and table t to r. */
static size_t
collect_ranges(struct range *r, size_t i, const struct node *n,
	       const struct table *t)
{
	const struct entry *e;
	size_t b;

	for (; n; n = n->next) {
		r[i].lo = (uintptr_t)n;
		r[i++].hi = (uintptr_t)n + n->size;
	}
	if (!t)
		return i;
	r[i].lo = (uintptr_t)t->b;
	r[i++].hi = (uintptr_t)(t->b + t->nb);
	for (b = 0; b < t->nb; b++)
		for (e = t->b[b]; e; e = e->next) {
			r[i].lo = (uintptr_t)e;
			r[i++].hi = (uintptr_t)(e + 1);
		}
	return i;
}

START_TEST(test_children_build_lists)
{
	struct det_status st;
	struct range *r;
	struct node *n;
	size_t nr = 0, total = 0;
	uint32_t k;

	for (k = 0; k < NKIDS; k++)
		ck_assert_int_eq(det_fork(k, list_child, (void *)(long)k),
				 DET_OK);
	for (k = 0; k < NKIDS; k++) {
		ck_assert_int_eq(det_join(k, &st), DET_OK);
		ck_assert_uint_eq(st.nconflicts, 0);
		ck_assert_int_eq(st.exit_code, 0);
	}
	for (k = 0; k < NKIDS; k++) {
		n = kid_list[k];
		walk_list(&n, k, kid_len(k));
		ck_assert_ptr_null(n);
		walk_table(&kid_table[k], k, kid_buckets(k), kid_entries(k));
		total += kid_len(k) + kid_entries(k) + 1;
	}
	/* No two blocks of any children overlap. */
	r = xmalloc(total * sizeof(*r));
	ck_assert_ptr_nonnull(r);
	for (k = 0; k < NKIDS; k++)
		nr = collect_ranges(r, nr, kid_list[k], &kid_table[k]);
	ck_assert_uint_eq(nr, total);
	assert_disjoint(r, nr);
	xfree(r);
	for (k = 0; k < NKIDS; k++) {
		free_list(kid_list[k]);
		free_table(&kid_table[k]);
	}
}
END_TEST

/* ---- 2: many rounds, bounded memory ------------------------------------- */

#define ROUNDS		1000
#define RB_N		10
#define P0_SIZE		24000	/* a size class the children never use */
#define P1_SIZE		100000	/* large; children's large blocks are
				   more than twice bigger */

static const size_t rb_size[RB_N] = {
	48, 200, 1000, 4000, 12000, 40000, 250000, 64, 700, 2500,
};

static int cur_round;
static void *rb_out[2][RB_N];	/* what child k kept (NULL: freed) */
static void *pblk[2];		/* a parent block for child k to free */

static uint64_t
rb_id(int round, long k, int i)
{
	return ((uint64_t)round << 16) | (uint64_t)(k << 8) | (uint64_t)i;
}

static void
round_child(void *arg)
{
	long k = (long)arg;
	size_t psize = k ? P1_SIZE : P0_SIZE;
	int i;

	for (i = 0; i < RB_N; i++) {
		rb_out[k][i] = xmalloc(rb_size[i]);
		if (!rb_out[k][i])
			det_exit(1);
		fill(rb_out[k][i], rb_size[i], rb_id(cur_round, k, i));
	}
	if (check(pblk[k], psize, rb_id(cur_round, 9, (int)k)) != psize)
		det_exit(2);
	xfree(pblk[k]);
	for (i = 1; i < RB_N; i += 3) {
		if (check(rb_out[k][i], rb_size[i],
			  rb_id(cur_round, k, i)) != rb_size[i])
			det_exit(3);
		xfree(rb_out[k][i]);
		rb_out[k][i] = NULL;
	}
}

START_TEST(test_many_rounds)
{
	struct det_status st;
	size_t round_bytes = 0, rss0 = 0, maps0 = 0, rss, maps;
	void *q0, *q1;
	long k;
	int i;

	for (i = 0; i < RB_N; i++)
		round_bytes += 2 * rb_size[i];
	pblk[0] = xmalloc(P0_SIZE);
	pblk[1] = xmalloc(P1_SIZE);
	for (cur_round = 0; cur_round < ROUNDS; cur_round++) {
		for (k = 0; k < 2; k++)
			fill(pblk[k], k ? P1_SIZE : P0_SIZE,
			     rb_id(cur_round, 9, (int)k));
		for (k = 0; k < 2; k++)
			ck_assert_int_eq(det_fork((unsigned)k, round_child,
						  (void *)k), DET_OK);
		for (k = 0; k < 2; k++) {
			ck_assert_int_eq(det_join((unsigned)k, &st), DET_OK);
			ck_assert_int_eq(st.exit_code, 0);
			ck_assert_uint_eq(st.nconflicts, 0);
		}
		/* The blocks the children freed are free now: the same
		 * sizes give them back. */
		q0 = xmalloc(P0_SIZE);
		q1 = xmalloc(P1_SIZE);
		ck_assert_ptr_eq(q0, pblk[0]);
		ck_assert_ptr_eq(q1, pblk[1]);
		for (k = 0; k < 2; k++)
			for (i = 0; i < RB_N; i++) {
				void *p = rb_out[k][i];

				ck_assert((p == NULL) == (i % 3 == 1));
				if (!p)
					continue;
				ck_assert_heap(p);
				ck_assert_block(p, rb_size[i],
						rb_id(cur_round, k, i));
				xfree(p);
			}
		/* Mappings and resident memory stay bounded: the
		 * children's chunks, all free now, return to the holes at
		 * a later fork, and later children's heaps take their
		 * addresses again.  (Without that, resident memory grew
		 * by ~140 MiB over these rounds.) */
		if (cur_round == 20) {
			rss0 = rss_bytes();
			maps0 = nmaps();
		}
		if (cur_round % 100 == 99) {
			rss = rss_bytes();
			maps = nmaps();
			ck_assert_msg(maps <= maps0 + 64, "round %d: mappings "
				      "from %zu to %zu", cur_round, maps0,
				      maps);
#ifdef __SANITIZE_ADDRESS__
			/* AddressSanitizer's quarantine and shadow memory
			 * grow on their own: the bound is checked in the
			 * plain build. */
			fprintf(stderr, "test_many_rounds: round %d: resident "
				"memory +%zd KiB\n", cur_round,
				((ssize_t)rss - (ssize_t)rss0) / 1024);
			rss = rss0;
#endif
			ck_assert_msg(rss <= rss0 + 4 * round_bytes,
				      "round %d: resident memory grew by %zu "
				      "KiB since round 20 (a round allocates "
				      "%zu KiB)", cur_round,
				      (rss - rss0) / KIB, round_bytes / KIB);
		}
	}
	xfree(pblk[0]);
	xfree(pblk[1]);
}
END_TEST

/* ---- 3: realloc across joins -------------------------------------------- */

static unsigned char *rbuf;
static size_t rlen;

#define RBUF_ID		0x5eed

static void
realloc_child(void *arg)
{
	size_t n = (size_t)arg;
	unsigned char *q;

	if (check(rbuf, rlen < n ? rlen : n, RBUF_ID) != (rlen < n ? rlen : n))
		det_exit(1);
	q = xrealloc(rbuf, n);
	if (!q || q == rbuf)
		det_exit(2);
	if (check(q, rlen < n ? rlen : n, RBUF_ID) != (rlen < n ? rlen : n))
		det_exit(3);
	fill(q, n, RBUF_ID);
	rbuf = q;
	rlen = n;
}

/* Grow (or shrink) rbuf to n in child 0; its old block is freed at the
 * join: the next malloc of its size gets it back. */
static void
realloc_in_child(size_t n, size_t old_size)
{
	struct det_status st;
	unsigned char *old = rbuf, *again;

	ck_assert_int_eq(det_fork(0, realloc_child, (void *)n), DET_OK);
	ck_assert_ptr_eq(rbuf, old);
	ck_assert_block(rbuf, rlen, RBUF_ID);
	ck_assert_int_eq(det_join(0, &st), DET_OK);
	ck_assert_int_eq(st.exit_code, 0);
	ck_assert_ptr_ne(rbuf, old);
	ck_assert_heap(rbuf);
	ck_assert_uint_eq(rlen, n);
	ck_assert_uint_ge(xusable(rbuf), n);
	ck_assert_block(rbuf, n, RBUF_ID);
	again = xmalloc(old_size);
	ck_assert_ptr_eq(again, old);
	xfree(again);
}

START_TEST(test_realloc_across_joins)
{
	unsigned char *old;

	rlen = 100;
	rbuf = xmalloc(rlen);
	fill(rbuf, rlen, RBUF_ID);
	realloc_in_child(5000, 100);
	/* The parent grows the child's block: it is the parent's now. */
	old = rbuf;
	rbuf = xrealloc(rbuf, 200000);
	ck_assert_ptr_nonnull(rbuf);
	ck_assert_block(rbuf, 5000, RBUF_ID);
	fill(rbuf, 200000, RBUF_ID);
	rlen = 200000;
	ck_assert_ptr_eq(xmalloc(5000), old);
	realloc_in_child(3 * MIB, 200000);
	/* A shrink in a child also moves the block (the header is the
	 * parent's). */
	realloc_in_child(2 * MIB, 3 * MIB);
	rbuf = xrealloc(rbuf, 50);
	ck_assert_block(rbuf, 50, RBUF_ID);
	xfree(rbuf);
	xfree(old);
}
END_TEST

/* ---- 4: the same addresses on every run --------------------------------- */

#define SC_KIDS		4
#define SC_PER		24
#define SC_ROOT		12
#define SC_MORE		10
#define SC_TRIM		3
#define SC_LINES	(SC_ROOT + 1 + SC_KIDS * SC_PER + SC_MORE + SC_TRIM)

static void **sc_tab;
static void *sc_root[SC_ROOT];

static const size_t sc_size[SC_ROOT] = {
	16, 100, 1000, 5000, 70000, 300000, 2 * MIB, 20 * MIB, 33, 4096,
	65536, 65537,
};

static void
sc_grandchild(void *arg)
{
	size_t i;

	(void)arg;
	for (i = 0; i < 4; i++)
		sc_tab[3 * SC_PER + 20 + i] = xmalloc(100UL << (i * 3));
}

static void
sc_child(void *arg)
{
	long k = (long)arg;
	void **row = sc_tab + k * SC_PER;
	size_t i;

	for (i = 0; i < 20; i++) {
		row[i] = xmalloc(node_size((uint32_t)k, (uint32_t)i) +
				 (i == 9 ? 200000 : 0));
		if (!row[i])
			det_exit(1);
	}
	for (i = 0; i < 20; i += 4)
		xfree(row[i]);		/* its address stays listed */
	xfree(sc_root[6 + k]);
	if (k == 3) {
		if (det_fork(0, sc_grandchild, NULL) != DET_OK ||
		    det_join(0, NULL) != DET_OK)
			det_exit(2);
	} else {
		row[20] = xrealloc(row[1], 100000);
	}
}

/* Rounds of a grandchild allocating 1.5 MiB that its parent frees, with
 * a det_sync after the first: the freed chunks are retired (at the next
 * fork) while they are part of the memory the resumed child was forked
 * with -- every dirty-page backend must still read them. */
static void *sc_trim[SC_TRIM], *sc_trim_blk[3];

static void
sc_trim_grandchild(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 3; i++)
		sc_trim_blk[i] = xmalloc(500000);
}

static void
sc_trim_child(void *arg)
{
	int r, i;

	(void)arg;
	for (r = 0; r < SC_TRIM; r++) {
		if (det_fork(0, sc_trim_grandchild, NULL) != DET_OK ||
		    det_join(0, NULL) != DET_OK)
			det_exit(1);
		sc_trim[r] = sc_trim_blk[0];
		for (i = 0; i < 3; i++) {
			if (!sc_trim_blk[i])
				det_exit(2);
			xfree(sc_trim_blk[i]);
		}
		if (r == 0 && det_barrier() != DET_OK)
			det_exit(3);
	}
}

/* The scenario run by `check_alloc --addr-scenario`: prints every
 * address it got, one a line. */
static int
addr_scenario(void)
{
	void *more[SC_MORE], *al = NULL;
	struct det_status st;
	size_t i;
	long k;

	det_config.quiet = 1;
	for (i = 0; i < SC_ROOT; i++)
		sc_root[i] = xmalloc(sc_size[i]);
	xfree(sc_root[2]);
	xfree(sc_root[5]);
	sc_tab = xcalloc(SC_KIDS * SC_PER, sizeof(void *));
	if (!sc_tab || xmemalign(&al, 4096, 10000))
		return 1;
	for (k = 0; k < SC_KIDS; k++)
		if (det_fork((unsigned)k, sc_child, (void *)k) != DET_OK)
			return 2;
	for (k = 0; k < SC_KIDS; k++)
		if (det_join((unsigned)k, NULL) != DET_OK)
			return 3;
	for (i = 0; i < SC_MORE; i++)
		more[i] = xmalloc(sc_size[i] + 1);
	if (det_fork(0, sc_trim_child, NULL) != DET_OK)
		return 4;
	if (det_sync(0, NULL) != DET_OK || det_join(0, &st) != DET_OK ||
	    st.exit_code != 0)
		return 5;
	for (i = 0; i < SC_ROOT; i++)
		printf("%p\n", sc_root[i]);
	printf("%p\n", al);
	for (i = 0; i < SC_KIDS * SC_PER; i++)
		printf("%p\n", sc_tab[i]);
	for (i = 0; i < SC_MORE; i++)
		printf("%p\n", more[i]);
	for (i = 0; i < SC_TRIM; i++)
		printf("%p\n", sc_trim[i]);
	return 0;
}

/* Run the scenario in a fresh process (exec), with `extra` added to the
 * environment; its output into out. */
static void
run_scenario(const char *extra, char *out, size_t len)
{
	char *argv[] = { "check_alloc", "--addr-scenario", NULL };
	char **env;
	size_t n = 0, i, j = 0;
	int fds[2], ws = 0;
	pid_t pid;

	while (environ[n])
		n++;
	env = xcalloc(n + 2, sizeof(*env));
	ck_assert_ptr_nonnull(env);
	for (i = 0; i < n; i++)
		if (!extra || strncmp(environ[i], "DET_DIRTY=", 10) != 0 ||
		    strncmp(extra, "DET_DIRTY=", 10) != 0)
			env[j++] = environ[i];
	if (extra)
		env[j++] = (char *)extra;
	ck_assert_int_eq(pipe(fds), 0);
	fflush(stdout);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execve("/proc/self/exe", argv, env);
		_exit(127);
	}
	close(fds[1]);
	read_all(fds[0], out, len);
	close(fds[0]);
	strip_sanitizer_lines(out);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	xfree(env);
	ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
		      "scenario (%s): wait status %#x", extra ? extra : "-",
		      ws);
}

START_TEST(test_same_addresses_every_run)
{
	static char out[3][16384], pad[6000];
	const char *dirty = getenv("DET_DIRTY");
	char *line, *save = NULL;
	size_t lines = 0, nils = 0;
	void *p;

	/* Run 2: a bigger environment (another stack layout); run 3:
	 * another dirty-page backend. */
	memcpy(pad, "DET_TEST_PAD=", 13);
	memset(pad + 13, 'x', sizeof(pad) - 14);
	run_scenario(NULL, out[0], sizeof(out[0]));
	run_scenario(pad, out[1], sizeof(out[1]));
	run_scenario(dirty && strcmp(dirty, "hash") == 0 ?
		     "DET_DIRTY=mprotect" : "DET_DIRTY=hash",
		     out[2], sizeof(out[2]));
	ck_assert_str_eq(out[1], out[0]);
	ck_assert_str_eq(out[2], out[0]);
	for (line = strtok_r(out[0], "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		lines++;
		if (strcmp(line, "(nil)") == 0) {
			nils++;		/* slots 21..23 of children 0..2 */
			continue;
		}
		ck_assert_int_eq(sscanf(line, "%p", &p), 1);
		ck_assert_heap(p);
	}
	ck_assert_uint_eq(lines, SC_LINES);
	ck_assert_uint_eq(nils, 3 * 3);
}
END_TEST

/* ---- 5: nested spaces --------------------------------------------------- */

#define NEST_KIDS	4
#define NEST_GKIDS	3

static struct node *nest_gc[NEST_KIDS][NEST_GKIDS];
static struct node *nest_list[NEST_KIDS];
static void *nest_root_blk[NEST_KIDS * NEST_GKIDS];

static uint32_t
nest_owner(unsigned depth, long k, long g)
{
	return (uint32_t)(depth << 16 | (unsigned)k << 8 | (unsigned)g);
}

static uint32_t
nest_len(unsigned depth, long k, long g)
{
	return depth == 1 ? 20 + (uint32_t)k :
			    15 + (uint32_t)(k * NEST_GKIDS + g);
}

static void
nest_grandchild(void *arg)
{
	long kg = (long)arg, k = kg / NEST_GKIDS, g = kg % NEST_GKIDS;

	nest_gc[k][g] = build_list(nest_owner(2, k, g), nest_len(2, k, g));
	if (!nest_gc[k][g])
		det_exit(1);
	xfree(nest_root_blk[kg]);	/* deferred twice */
}

static void
nest_child(void *arg)
{
	long k = (long)arg, g;
	struct node *head, *tail;

	for (g = 0; g < NEST_GKIDS; g++)
		if (det_fork((unsigned)g, nest_grandchild,
			     (void *)(k * NEST_GKIDS + g)) != DET_OK)
			det_exit(1);
	head = build_list(nest_owner(1, k, 0), nest_len(1, k, 0));
	if (!head)
		det_exit(2);
	for (g = 0; g < NEST_GKIDS; g++)
		if (det_join((unsigned)g, NULL) != DET_OK)
			det_exit(3);
	/* Link the grandchildren's lists behind our own. */
	for (tail = head; tail->next; tail = tail->next)
		;
	for (g = 0; g < NEST_GKIDS; g++) {
		tail->next = nest_gc[k][g];
		while (tail->next)
			tail = tail->next;
	}
	nest_list[k] = head;
}

START_TEST(test_nested_spaces)
{
	struct det_status st;
	struct node *n;
	long k, g, i;

	for (i = 0; i < NEST_KIDS * NEST_GKIDS; i++) {
		nest_root_blk[i] = xmalloc(3000);
		fill(nest_root_blk[i], 3000, (uint64_t)i);
	}
	for (k = 0; k < NEST_KIDS; k++)
		ck_assert_int_eq(det_fork((unsigned)k, nest_child, (void *)k),
				 DET_OK);
	for (k = 0; k < NEST_KIDS; k++) {
		ck_assert_int_eq(det_join((unsigned)k, &st), DET_OK);
		ck_assert_int_eq(st.exit_code, 0);
	}
	for (k = 0; k < NEST_KIDS; k++) {
		n = nest_list[k];
		walk_list(&n, nest_owner(1, k, 0), nest_len(1, k, 0));
		for (g = 0; g < NEST_GKIDS; g++)
			walk_list(&n, nest_owner(2, k, g), nest_len(2, k, g));
		ck_assert_ptr_null(n);
	}
	/* The root blocks the grandchildren freed are free now: freeing
	 * one again is a double free. */
	for (i = 0; i < NEST_KIDS * NEST_GKIDS; i += 5)
		expect_abort(free_it, nest_root_blk[i], "free");
	for (k = 0; k < NEST_KIDS; k++)
		free_list(nest_list[k]);
}
END_TEST

/* A child forks and joins, one after the other, more grandchildren that
 * allocate than kern has fresh ranges (1024): its own join must work. */
#define SERIAL_GKIDS	1030

static void *serial_blk[SERIAL_GKIDS];

static void
serial_grandchild(void *arg)
{
	long i = (long)arg;

	serial_blk[i] = xmalloc(32);
	if (serial_blk[i])
		fill(serial_blk[i], 32, (uint64_t)i);
}

static void
serial_child(void *arg)
{
	long i;

	(void)arg;
	for (i = 0; i < SERIAL_GKIDS; i++) {
		if (det_fork(0, serial_grandchild, (void *)i) != DET_OK)
			det_exit(1);
		if (det_join(0, NULL) != DET_OK)
			det_exit(2);
	}
}

START_TEST(test_many_grandchildren_in_turn)
{
	struct det_status st;
	long i;

	ck_assert_int_eq(det_fork(0, serial_child, NULL), DET_OK);
	ck_assert_int_eq(det_join(0, &st), DET_OK);
	ck_assert_int_eq(st.exit_code, 0);
	for (i = 0; i < SERIAL_GKIDS; i++) {
		ck_assert_heap(serial_blk[i]);
		ck_assert_block(serial_blk[i], 32, (uint64_t)i);
	}
	for (i = 0; i < SERIAL_GKIDS; i++)
		xfree(serial_blk[i]);
}
END_TEST

/* A child runs rounds of grandchildren that allocate; it frees their
 * blocks after each join.  Later grandchildren's heaps take the freed
 * addresses again (without reuse, every round's are new). */
#define NR_ROUNDS	40
#define NR_BLKS		6

static uintptr_t nr_first[NR_ROUNDS];
static void *nr_blk[NR_BLKS];

static void
nr_grandchild(void *arg)
{
	long r = (long)arg;
	int i;

	for (i = 0; i < NR_BLKS; i++) {
		nr_blk[i] = xmalloc(100000 + 1000 * (size_t)i);
		if (!nr_blk[i])
			det_exit(1);
		fill(nr_blk[i], 100000 + 1000 * (size_t)i, rb_id((int)r, 7, i));
	}
	nr_first[r] = (uintptr_t)nr_blk[0];
}

static void
nr_child(void *arg)
{
	long r;
	int i;

	(void)arg;
	for (r = 0; r < NR_ROUNDS; r++) {
		if (det_fork(0, nr_grandchild, (void *)r) != DET_OK)
			det_exit(2);
		if (det_join(0, NULL) != DET_OK)
			det_exit(3);
		for (i = 0; i < NR_BLKS; i++) {
			if (check(nr_blk[i], 100000 + 1000 * (size_t)i,
				  rb_id((int)r, 7, i)) !=
			    100000 + 1000 * (size_t)i)
				det_exit(4);
			xfree(nr_blk[i]);
		}
	}
}

START_TEST(test_nested_rounds_reuse)
{
	struct det_status st;
	size_t distinct = 0;
	int r, s;

	ck_assert_int_eq(det_fork(0, nr_child, NULL), DET_OK);
	ck_assert_int_eq(det_join(0, &st), DET_OK);
	ck_assert_int_eq(st.exit_code, 0);
	for (r = 10; r < NR_ROUNDS; r++) {
		ck_assert_heap(nr_first[r]);
		for (s = 10; s < r && nr_first[s] != nr_first[r]; s++)
			;
		distinct += s == r;
	}
	ck_assert_msg(distinct <= 4, "rounds 10..%d: %zu different heap "
		      "addresses", NR_ROUNDS - 1, distinct);
}
END_TEST

/* Rounds whose child leaves one block the parent keeps: every child's
 * chunk stays, next to the one before (its heap header is a block of that
 * chunk, not a page of its own that would leave a hole between them), so
 * the parent's record of its heap memory stays small and wild pointers
 * are still recognised after more rounds than that record could hold. */
#define PR_ROUNDS	1100

static void *pr_keep[PR_ROUNDS];
static void *pr_scratch[8];

static void
pr_child(void *arg)
{
	long r = (long)arg;
	int i;

	pr_keep[r] = xmalloc(40);
	if (!pr_keep[r])
		det_exit(1);
	fill(pr_keep[r], 40, (uint64_t)r);
	for (i = 0; i < 8; i++)
		if (!(pr_scratch[i] = xmalloc(3000)))
			det_exit(2);
}

START_TEST(test_pinned_rounds)
{
	const char *dirty = getenv("DET_DIRTY");
	struct det_status st;
	long r;
	int i;

	/* The hash backend reads all merged memory at every fork: 1100
	 * forks over up to 1.1 GiB of chunks take minutes. */
	if (dirty && strcmp(dirty, "hash") == 0)
		return;
	for (r = 0; r < PR_ROUNDS; r++) {
		ck_assert_int_eq(det_fork(0, pr_child, (void *)r), DET_OK);
		ck_assert_int_eq(det_join(0, &st), DET_OK);
		ck_assert_msg(st.exit_code == 0, "round %ld: child exit %d",
			      r, st.exit_code);
		for (i = 0; i < 8; i++)
			xfree(pr_scratch[i]);
	}
	expect_abort(free_it, (void *)(HEAP_LO + (1UL << 40)), "free");
	for (r = 0; r < PR_ROUNDS; r++) {
		ck_assert_heap(pr_keep[r]);
		ck_assert_block(pr_keep[r], 40, (uint64_t)r);
		xfree(pr_keep[r]);
	}
}
END_TEST

/* ---- barriers: a child's heap across det_sync --------------------------- */

static struct node *bar_list;

static void
barrier_child(void *arg)
{
	struct node *tail;

	(void)arg;
	bar_list = build_list(900, 20);
	if (!bar_list || det_barrier() != DET_OK)
		det_exit(1);
	/* A fresh snapshot: our heap goes on where it was. */
	for (tail = bar_list; tail->next; tail = tail->next)
		;
	tail->next = build_list(901, 30);
	if (!tail->next)
		det_exit(2);
}

START_TEST(test_barrier_keeps_heap)
{
	struct range r[70];
	struct node *n, *mine[10];
	size_t nr;
	int i;

	ck_assert_int_eq(det_fork(0, barrier_child, NULL), DET_OK);
	ck_assert_int_eq(det_sync(0, NULL), DET_OK);
	n = bar_list;
	walk_list(&n, 900, 20);
	ck_assert_ptr_null(n);
	/* The parent allocates while the child goes on. */
	for (i = 0; i < 10; i++) {
		mine[i] = xmalloc(sizeof(struct node) + 100);
		mine[i]->next = i ? mine[i - 1] : NULL;
		mine[i]->size = sizeof(struct node) + 100;
	}
	ck_assert_int_eq(det_join(0, NULL), DET_OK);
	n = bar_list;
	walk_list(&n, 900, 20);
	walk_list(&n, 901, 30);
	ck_assert_ptr_null(n);
	nr = collect_ranges(r, 0, bar_list, NULL);
	nr = collect_ranges(r, nr, mine[9], NULL);
	ck_assert_uint_eq(nr, 60);
	assert_disjoint(r, nr);
	free_list(bar_list);
	free_list(mine[9]);
}
END_TEST

/* A join that fails after a det_sync was merged: the blocks the parent
 * got at the sync stay valid, and later children's heaps stay clear of
 * them (the child's heap is adopted as of that sync). */
#define FS_KIDS		3

static struct node *fs_list, *fs_more[FS_KIDS];
static unsigned char *fs_byte;

static void
fs_child(void *arg)
{
	(void)arg;
	fs_list = build_list(920, 40);
	if (!fs_list || det_barrier() != DET_OK)
		det_exit(1);
	*fs_byte = 2;			/* the parent writes it too */
	if (!build_list(921, 10))
		det_exit(2);
}

static void
fs_more_child(void *arg)
{
	long k = (long)arg;

	fs_more[k] = build_list(930 + (uint32_t)k, 40);
	if (!fs_more[k])
		det_exit(1);
}

START_TEST(test_failed_join_after_sync)
{
	struct range r[FS_KIDS * 40 + 40];
	struct node *n;
	size_t nr = 0;
	long k;

	fs_byte = xcalloc(1, 16);
	ck_assert_int_eq(det_fork(0, fs_child, NULL), DET_OK);
	ck_assert_int_eq(det_sync(0, NULL), DET_OK);
	*fs_byte = 1;
	ck_assert_int_eq(det_join(0, NULL), DET_ECONFLICT);
	for (k = 0; k < FS_KIDS; k++)
		ck_assert_int_eq(det_fork((unsigned)k, fs_more_child,
					  (void *)k), DET_OK);
	for (k = 0; k < FS_KIDS; k++)
		ck_assert_int_eq(det_join((unsigned)k, NULL), DET_OK);
	n = fs_list;
	walk_list(&n, 920, 40);
	ck_assert_ptr_null(n);
	nr = collect_ranges(r, nr, fs_list, NULL);
	for (k = 0; k < FS_KIDS; k++) {
		n = fs_more[k];
		walk_list(&n, 930 + (uint32_t)k, 40);
		ck_assert_ptr_null(n);
		nr = collect_ranges(r, nr, fs_more[k], NULL);
	}
	ck_assert_uint_eq(nr, FS_KIDS * 40 + 40);
	assert_disjoint(r, nr);
	free_list(fs_list);
	for (k = 0; k < FS_KIDS; k++)
		free_list(fs_more[k]);
	xfree(fs_byte);
}
END_TEST

/* ---- joins that apply nothing give the child's range back --------------- */

static unsigned char *fj_blk;		/* what the child allocated */
static unsigned char *fj_parent;	/* a parent block both write */
static volatile uintptr_t *fj_seen;	/* shared: the child's address */

static void
fj_child(void *arg)
{
	long mode = (long)arg;

	fj_blk = xmalloc(1000);
	if (!fj_blk)
		det_exit(1);
	fill(fj_blk, 1000, 44);
	*fj_seen = (uintptr_t)fj_blk;
	if (mode == 1)
		fj_parent[0] ^= 0x80;	/* conflicts with the parent */
	if (mode == 2)
		raise(SIGSEGV);
}

/* Fork child 3 with fj_child(mode), the parent writing fj_parent[0];
 * det_join's result; *addr gets the child's block address. */
static int
fj_run(long mode, uintptr_t *addr)
{
	struct det_status st;
	int rc;

	fj_blk = NULL;
	*fj_seen = 0;
	ck_assert_int_eq(det_fork(3, fj_child, (void *)mode), DET_OK);
	fj_parent[0]++;
	rc = det_join(3, &st);
	*addr = *fj_seen;
	ck_assert_uint_ne(*addr, 0);
	return rc;
}

START_TEST(test_failed_join_returns_range)
{
	uintptr_t a, b;

	fj_seen = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne((void *)fj_seen, MAP_FAILED);
	fj_parent = xcalloc(1, 64);
	/* Refused (conflict, then crash): nothing of the child, and the
	 * next child gets the same range, so the same first block.  (A
	 * first conflict report may allocate in the parent: warm up.) */
	ck_assert_int_eq(fj_run(1, &a), DET_ECONFLICT);
	ck_assert_int_eq(fj_run(1, &a), DET_ECONFLICT);
	ck_assert_ptr_null(fj_blk);
	ck_assert_int_eq(fj_run(2, &b), DET_EFAULT);
	ck_assert_ptr_null(fj_blk);
	ck_assert_uint_eq(b, a);
	ck_assert_int_eq(fj_run(0, &b), DET_OK);
	ck_assert_uint_eq(b, a);
	ck_assert_ptr_eq(fj_blk, (void *)a);
	ck_assert_block(fj_blk, 1000, 44);
	xfree(fj_blk);
	/* Applied in part: the child's heap is adopted. */
	det_config.apply_partial = 1;
	ck_assert_int_eq(fj_run(1, &b), DET_ECONFLICT);
	det_config.apply_partial = 0;
	ck_assert_ptr_eq(fj_blk, (void *)b);
	ck_assert_heap(fj_blk);
	ck_assert_block(fj_blk, 1000, 44);
	xfree(fj_blk);
	ck_assert_int_eq(fj_run(0, &a), DET_OK);
	ck_assert_block(fj_blk, 1000, 44);
	ck_assert_uint_ne(a, b);
	xfree(fj_blk);
	xfree(fj_parent);
	munmap((void *)fj_seen, 4096);
}
END_TEST

/* A refused det_sync: the child goes on from the parent's memory, with
 * its heap as of its last accepted publish. */
static struct node *rs_list[3];
static unsigned char *rs_byte;

static void
refused_sync_child(void *arg)
{
	(void)arg;
	rs_list[0] = build_list(910, 20);
	if (!rs_list[0] || det_barrier() != DET_OK)
		det_exit(1);
	rs_list[1] = build_list(911, 25);
	*rs_byte = 1;			/* the parent writes it too */
	if (det_barrier() != DET_ECONFLICT || rs_list[1])
		det_exit(2);
	rs_list[2] = build_list(912, 30);
	if (!rs_list[2])
		det_exit(3);
}

START_TEST(test_barrier_refused_sync)
{
	struct range r[50];
	struct det_status st;
	struct node *n;
	size_t nr;

	rs_byte = xcalloc(1, 16);
	ck_assert_int_eq(det_fork(0, refused_sync_child, NULL), DET_OK);
	ck_assert_int_eq(det_sync(0, NULL), DET_OK);
	*rs_byte = 2;
	ck_assert_int_eq(det_sync(0, NULL), DET_ECONFLICT);
	ck_assert_int_eq(det_join(0, &st), DET_OK);
	ck_assert_int_eq(st.exit_code, 0);
	ck_assert_ptr_null(rs_list[1]);
	n = rs_list[0];
	walk_list(&n, 910, 20);
	ck_assert_ptr_null(n);
	n = rs_list[2];
	walk_list(&n, 912, 30);
	ck_assert_ptr_null(n);
	nr = collect_ranges(r, 0, rs_list[0], NULL);
	nr = collect_ranges(r, nr, rs_list[2], NULL);
	assert_disjoint(r, nr);
	free_list(rs_list[0]);
	free_list(rs_list[2]);
	xfree(rs_byte);
}
END_TEST

/* ---- threads of the root ------------------------------------------------ */

#define TH_N		4
#define TH_OPS		20000

/* One thread: malloc, fill, check, free, with 64 blocks live. */
static void *
thread_worker(void *arg)
{
	uint64_t s = (uintptr_t)arg * 7777 + 1, id;
	unsigned char *live[64] = { 0 };
	size_t len[64] = { 0 }, i;
	int op;

	for (op = 0; op < TH_OPS; op++) {
		i = (size_t)(test_rand(&s) % 64);
		id = (uint64_t)(uintptr_t)&live[i];
		if (live[i]) {
			if (check(live[i], len[i], id) != len[i])
				return live[i];
			xfree(live[i]);
		}
		len[i] = 1 + (size_t)(test_rand(&s) % 3000);
		live[i] = xmalloc(len[i]);
		if (!live[i])
			return arg;
		fill(live[i], len[i], id);
	}
	for (i = 0; i < 64; i++)
		xfree(live[i]);
	return NULL;
}

START_TEST(test_threads_in_root)
{
	pthread_t t[TH_N];
	void *ret;
	long i;

	for (i = 0; i < TH_N; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, thread_worker,
						(void *)(i + 1)), 0);
	for (i = 0; i < TH_N; i++) {
		ck_assert_int_eq(pthread_join(t[i], &ret), 0);
		ck_assert_msg(ret == NULL, "thread %ld: %p", i, ret);
	}
}
END_TEST

/* ---- 6: a child's free of a parent block takes effect at the join ------- */

static unsigned char *late_blk;
static volatile int *late_flag;	/* shared memory: never merged */

static void
late_child(void *arg)
{
	(void)arg;
	xfree(late_blk);
	*late_flag = 1;
	usleep(100000);
}

START_TEST(test_child_free_applies_at_join)
{
	struct det_status st;
	unsigned char *q, *r;
	char err[256];
	int ws, i;
	size_t u;

	late_flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne((void *)late_flag, MAP_FAILED);
	late_blk = xmalloc(700);
	fill(late_blk, 700, 6);
	u = xusable(late_blk);
	ck_assert_int_eq(det_fork(0, late_child, NULL), DET_OK);
	for (i = 0; i < 10000 && !*late_flag; i++)
		usleep(1000);
	ck_assert_int_eq(*late_flag, 1);
	/* The child has freed it; here it is still live and intact. */
	ck_assert_block(late_blk, 700, 6);
	ck_assert_uint_eq(xusable(late_blk), u);
	q = xmalloc(700);
	ck_assert_ptr_ne(q, late_blk);
	ws = in_process(free_it, late_blk, err, sizeof(err));
	ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
		      "free before the join: status %#x, %s", ws, err);
	ck_assert_int_eq(det_join(0, &st), DET_OK);
	ck_assert_int_eq(st.exit_code, 0);
	/* Now it is free: freeing it again is a double free, and the next
	 * block of its size is it. */
	expect_abort(free_it, late_blk, "free");
	r = xmalloc(700);
	ck_assert_ptr_eq(r, late_blk);
	ck_assert_uint_eq(xusable(r), u);
	xfree(q);
	xfree(r);
	munmap((void *)late_flag, 4096);
}
END_TEST

/* ---- 7: bad use --------------------------------------------------------- */

static void
free_twice(void *p)
{
	xfree(p);
	xfree(p);
}

START_TEST(test_bad_free_in_root)
{
	unsigned char *small = xcalloc(1, 200), *large = xcalloc(1, 100000);
	long on_stack[8];

	expect_abort(free_twice, small, "free");
	expect_abort(free_it, on_stack + 2, "free");
	expect_abort(free_it, small + 32, "free");	/* zeros: no header */
	expect_abort(free_it, small + 8, "free");	/* misaligned */
	expect_abort(free_it, large + 4096, "free");
	xfree(small);
	expect_abort(free_it, small, "free");
	expect_abort(realloc_it, small, "realloc");
	expect_abort(usable_it, small, "malloc_usable_size");
	xfree(large);
}
END_TEST

/* A pointer into the heap area where nothing is mapped is foreign too:
 * one line and SIGABRT, like any other. */
START_TEST(test_bad_free_wild_heap_pointer)
{
	expect_abort(free_it, (void *)(HEAP_LO + (1UL << 40)), "free");
	expect_abort(free_it, (void *)(HEAP_HI - 4096), "free");
}
END_TEST

static int bad_err_fd = -1;
static long bad_global;
static unsigned char *bad_pb;	/* a parent block, zero-filled */

static void
bad_child(void *arg)
{
	long mode = (long)arg, on_stack[4];
	void *p;

	dup2(bad_err_fd, STDERR_FILENO);
	bad_global = 1;
	bad_pb[0] = 0xee;
	p = xmalloc(64);
	switch (mode) {
	case 0:
		free_twice(p);			/* its own block */
		break;
	case 1:
		xfree(on_stack + 1);
		break;
	case 2:
		xfree(bad_pb + 32);		/* inside the parent's */
		break;
	default:
		free_twice(bad_pb);		/* the parent's, twice */
		break;
	}
}

/* Child 0 runs bad_child(mode): must end by SIGABRT, nothing applied,
 * after one "det: free(" line. */
static void
expect_child_abort(long mode)
{
	struct det_status st;
	char err[512];
	int fds[2];

	bad_global = 0;
	memset(bad_pb, 0, 256);
	ck_assert_int_eq(pipe(fds), 0);
	bad_err_fd = fds[1];
	ck_assert_int_eq(det_fork(0, bad_child, (void *)mode), DET_OK);
	close(fds[1]);
	ck_assert_int_eq(det_join(0, &st), DET_EFAULT);
	ck_assert_int_eq(st.code, DET_EFAULT);
	ck_assert_int_eq(st.signal, SIGABRT);
	ck_assert_uint_eq(st.bytes_merged, 0);
	ck_assert_int_eq(bad_global, 0);
	ck_assert_int_eq(bad_pb[0], 0);
	read_all(fds[0], err, sizeof(err));
	close(fds[0]);
	assert_bad_use_line(err, "free", mode == 2 ? bad_pb + 32 :
			    mode == 3 ? bad_pb : NULL, 1);
}

START_TEST(test_bad_free_in_child)
{
	bad_pb = xcalloc(1, 256);
	expect_child_abort(0);
	expect_child_abort(1);
	expect_child_abort(2);
	/* The parent is fine: its block is live and usable. */
	ck_assert_uint_ge(xusable(bad_pb), 256);
	xfree(bad_pb);
}
END_TEST

/* A double free of a parent block in a child is a double free like any
 * other (README: one line, SIGABRT, DET_EFAULT at the join). */
START_TEST(test_child_double_free_of_parent_block)
{
	bad_pb = xcalloc(1, 256);
	expect_child_abort(3);
	ck_assert_uint_ge(xusable(bad_pb), 256);
	xfree(bad_pb);
}
END_TEST

static int exh_errno;
static void *exh_ptr;

static void
exhaust_child(void *arg)
{
	(void)arg;
	errno = 0;
	/* More than a child's share of the area (at most half of it),
	 * less than the largest block. */
	exh_ptr = xmalloc((1UL << 44) - 8192);
	exh_errno = errno;
	if (!xmalloc(1000))
		det_exit(1);
}

START_TEST(test_exhaustion)
{
	static const size_t big[] = {
		(1UL << 44) - 4096, 1UL << 44, (1UL << 44) + 4096, 1UL << 45,
		1UL << 40,
	};
	struct det_status st;
	unsigned char *p;
	void *q = NULL;
	size_t i;

	exh_ptr = &st;
	ck_assert_int_eq(det_fork(0, exhaust_child, NULL), DET_OK);
	ck_assert_int_eq(det_join(0, &st), DET_OK);
	ck_assert_int_eq(st.exit_code, 0);
	ck_assert_ptr_null(exh_ptr);
	ck_assert_int_eq(exh_errno, ENOMEM);
	/* The 32 TiB heap area is not one block to hand out. */
	errno = 0;
	ck_assert_ptr_null(xmalloc((size_t)1 << 46));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(xmalloc(SIZE_MAX));
	ck_assert_int_eq(errno, ENOMEM);
	p = xmalloc(100);
	fill(p, 100, 1);
	errno = 0;
	ck_assert_ptr_null(xrealloc(p, (size_t)1 << 46));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_block(p, 100, 1);
	ck_assert_int_eq(xmemalign(&q, 64, SIZE_MAX - 8), ENOMEM);
	ck_assert_int_eq(xmemalign(&q, 64, (size_t)1 << 46), ENOMEM);
	ck_assert_ptr_null(q);
	xfree(p);
	/* Huge sizes the area could hold: NULL, or a block of about that
	 * size (its size must fit the block header). */
	for (i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		errno = 0;
		p = xmalloc(big[i]);
		if (!p) {
			ck_assert_int_eq(errno, ENOMEM);
			continue;
		}
		ck_assert_msg(xusable(p) >= big[i] &&
			      xusable(p) - big[i] < MIB, "malloc(%#zx): "
			      "usable size %#zx", big[i], xusable(p));
		xfree(p);
	}
	/* And the heap still works. */
	p = xmalloc(100000);
	ck_assert_ptr_nonnull(p);
	fill(p, 100000, 2);
	ck_assert_block(p, 100000, 2);
	xfree(p);
}
END_TEST

/* ---- 8: aligned blocks -------------------------------------------------- */

#define AL_SIZES	4
#define AL_MAX		(64 * AL_SIZES)

static void *al_blk[AL_MAX];
static size_t al_len[AL_MAX];
static size_t al_n;

static void
al_child(void *arg)
{
	size_t i;

	(void)arg;
	for (i = 1; i < al_n; i += 2) {
		if (check(al_blk[i], al_len[i], i) != al_len[i])
			det_exit(1);
		xfree(al_blk[i]);
	}
}

/* Add one aligned block (from a) of n bytes to al_blk. */
static void
al_add(void *p, size_t align, size_t n)
{
	ck_assert_msg(p != NULL, "align %zu size %zu: NULL", align, n);
	ck_assert_msg(((uintptr_t)p & (align - 1)) == 0,
		      "%p is not %zu-aligned", p, align);
	ck_assert_heap(p);
	ck_assert_uint_ge(xusable(p), n);
	fill(p, n, al_n);
	al_blk[al_n] = p;
	al_len[al_n++] = n;
}

/* Check every block, that none overlap; free the even ones here and the
 * odd ones in a child (applied at its join). */
static void
al_check_and_free(void)
{
	struct range r[AL_MAX];
	struct det_status st;
	size_t i;

	for (i = 0; i < al_n; i++) {
		ck_assert_block(al_blk[i], al_len[i], i);
		r[i].lo = (uintptr_t)al_blk[i];
		r[i].hi = r[i].lo + al_len[i];
	}
	assert_disjoint(r, al_n);
	ck_assert_int_eq(det_fork(0, al_child, NULL), DET_OK);
	for (i = 0; i < al_n; i += 2)
		xfree(al_blk[i]);
	ck_assert_int_eq(det_join(0, &st), DET_OK);
	ck_assert_int_eq(st.exit_code, 0);
	expect_abort(free_it, al_blk[1], "free");
	expect_abort(free_it, al_blk[al_n - 1], "free");
	al_n = 0;
}

START_TEST(test_aligned)
{
	static const size_t sizes[AL_SIZES] = { 1, 100, 5000, 70000 };
	void *p, *q;
	size_t align, i;

	for (align = 32; align <= MIB; align <<= 1)
		for (i = 0; i < AL_SIZES; i++) {
			p = NULL;
			ck_assert_int_eq(xmemalign(&p, align, sizes[i]), 0);
			al_add(p, align, sizes[i]);
		}
	/* realloc keeps the contents (not the alignment). */
	p = NULL;
	ck_assert_int_eq(xmemalign(&p, 4096, 3000), 0);
	fill(p, 3000, 77);
	q = xrealloc(p, 90000);
	ck_assert_ptr_nonnull(q);
	ck_assert_block(q, 3000, 77);
	xfree(q);
	al_check_and_free();
	/* Bad alignments: EINVAL, *out untouched. */
	p = &p;
	ck_assert_int_eq(det_posix_memalign(&p, 3, 10), EINVAL);
	ck_assert_int_eq(det_posix_memalign(&p, 24, 10), EINVAL);
	ck_assert_int_eq(det_posix_memalign(&p, 0, 10), EINVAL);
	ck_assert_int_eq(det_posix_memalign(&p, 4, 10), EINVAL);
	ck_assert_int_eq(det_posix_memalign(&p, 48, 10), EINVAL);
	ck_assert_ptr_eq(p, &p);
	ck_assert_int_eq(det_posix_memalign(&p, 8, 10), 0);
	ck_assert_heap(p);
	det_free(p);
}
END_TEST

#ifndef __SANITIZE_ADDRESS__
static void *(*volatile xaligned_alloc)(size_t, size_t) = aligned_alloc;
static void *(*volatile xmemalign_old)(size_t, size_t) = memalign;
static void *(*volatile xvalloc)(size_t) = valloc;
static void *(*volatile xpvalloc)(size_t) = pvalloc;
static void *(*volatile xreallocarray)(void *, size_t, size_t) =
	reallocarray;

START_TEST(test_aligned_routed)
{
	size_t align, page = 4096;
	void *p;

	for (align = 32; align <= MIB; align <<= 1) {
		al_add(xaligned_alloc(align, 3 * align), align, 3 * align);
		al_add(xmemalign_old(align, 100), align, 100);
		p = NULL;
		ck_assert_int_eq(posix_memalign(&p, align, 7000), 0);
		al_add(p, align, 7000);
	}
	al_add(xvalloc(5000), page, 5000);
	p = xpvalloc(5000);
	al_add(p, page, 5000);
	ck_assert_uint_ge(xusable(p), 8192);
	al_check_and_free();
	errno = 0;
	ck_assert_ptr_null(xaligned_alloc(3, 10));
	ck_assert_int_eq(errno, EINVAL);
	p = &p;
	ck_assert_int_eq(posix_memalign(&p, 24, 10), EINVAL);
	ck_assert_ptr_eq(p, &p);
}
END_TEST
#endif

/* ---- 9: heap conflict reports name the allocation site ------------------ */

/* A block of n bytes from a call at a known line (*line). */
static __attribute__((noipa)) unsigned char *
site_alloc(size_t n, int *line)
{
	unsigned char *p;

	p = SITE_MALLOC(n); *line = __LINE__;
	if (p)
		memset(p, 0x11, n);
	return p;
}

static unsigned char *cf_blk;
static size_t cf_off;
static int cf_line;

static void
cf_writer(void *arg)
{
	(void)arg;
	cf_blk[cf_off] = 1;
}

static void
cf_alloc_child(void *arg)
{
	cf_blk = site_alloc((size_t)arg, &cf_line);
	if (!cf_blk)
		det_exit(1);
}

/* The child and the parent write byte off of block p (allocated at
 * site_alloc's line): the report names the block exactly. */
static void
expect_heap_conflict(unsigned char *p, size_t off, int line)
{
	struct det_status st;
	char want[96];

	cf_blk = p;
	cf_off = off;
	ck_assert_int_eq(det_fork(0, cf_writer, NULL), DET_OK);
	p[off] = 2;
	ck_assert_int_eq(det_join(0, &st), DET_ECONFLICT);
	ck_assert_uint_eq(st.nconflicts, 1);
	ck_assert_ptr_eq((void *)st.conflicts[0].addr, p + off);
	ck_assert_uint_eq(st.conflicts[0].len, 1);
	snprintf(want, sizeof(want), "heap block of %zu bytes allocated at "
		 "check_alloc.c:%d (site_alloc)", xusable(p), line);
	ck_assert_str_eq(st.conflicts[0].where, want);
	ck_assert_int_eq(p[off], 2);
	ck_assert_uint_eq(st.bytes_merged, 0);
}

START_TEST(test_heap_conflict_report)
{
	static const size_t sizes[] = { 200, 100000, 20 * MIB };
	struct det_status st;
	unsigned char *p;
	size_t i;
	int line;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = site_alloc(sizes[i], &line);
		ck_assert_ptr_nonnull(p);
		expect_heap_conflict(p, 5, line);
		expect_heap_conflict(p, sizes[i] - 1, line);
		xfree(p);
	}
	/* A block a child allocated, adopted by the parent. */
	ck_assert_int_eq(det_fork(0, cf_alloc_child, (void *)300L), DET_OK);
	ck_assert_int_eq(det_join(0, &st), DET_OK);
	ck_assert_int_eq(st.exit_code, 0);
	ck_assert_heap(cf_blk);
	p = cf_blk;
	expect_heap_conflict(p, 17, cf_line);
	xfree(p);
}
END_TEST

/* ---- 10: calloc, and size overflow -------------------------------------- */

static void
calloc_child(void *arg)
{
	size_t n = (size_t)arg, i;
	unsigned char *p = xmalloc(n), *q;

	if (!p)
		det_exit(1);
	memset(p, 0xff, n);
	xfree(p);
	q = xcalloc(n / 8, 8);
	if (q != p)
		det_exit(2);
	for (i = 0; i < n; i++)
		if (q[i])
			det_exit(3);
	xfree(q);
}

START_TEST(test_calloc)
{
	static const size_t sizes[] = { 24, 1000, 60000, 100000, MIB };
	struct det_status st;
	unsigned char *p, *q;
	size_t i, j, n;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		n = sizes[i];
		p = xmalloc(n);
		memset(p, 0xff, n);
		xfree(p);
		q = xcalloc(1, n);
		ck_assert_ptr_eq(q, p);		/* the same memory */
		for (j = 0; j < n; j++)
			ck_assert_msg(q[j] == 0, "calloc(1, %zu): byte %zu "
				      "is %#x", n, j, q[j]);
		xfree(q);
		ck_assert_int_eq(det_fork(0, calloc_child, (void *)n),
				 DET_OK);
		ck_assert_int_eq(det_join(0, &st), DET_OK);
		ck_assert_int_eq(st.exit_code, 0);
	}
	p = xcalloc(0, 100);
	ck_assert_ptr_nonnull(p);
	xfree(p);
	errno = 0;
	ck_assert_ptr_null(xcalloc(SIZE_MAX / 2 + 1, 2));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(xcalloc(1UL << 33, 1UL << 33));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(det_calloc(SIZE_MAX / 16 + 1, 16));
	ck_assert_int_eq(errno, ENOMEM);
#ifndef __SANITIZE_ADDRESS__
	errno = 0;
	ck_assert_ptr_null(xreallocarray(NULL, SIZE_MAX / 4 + 1, 8));
	ck_assert_int_eq(errno, ENOMEM);
	p = xreallocarray(NULL, 10, 10);
	fill(p, 100, 3);
	errno = 0;
	ck_assert_ptr_null(xreallocarray(p, 1UL << 40, 1UL << 40));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_block(p, 100, 3);
	p = xreallocarray(p, 1000, 10);
	ck_assert_ptr_nonnull(p);
	ck_assert_block(p, 100, 3);
	xfree(p);
#endif
}
END_TEST

/* ---- sizes, malloc(0), realloc corner cases ----------------------------- */

#define RING	16

START_TEST(test_usable_sizes)
{
	unsigned char *ring[RING] = { 0 };
	size_t len[RING] = { 0 }, n, u, i, k = 0;
	unsigned char *p;

	/* Every size to 4 KiB, then a sweep to 4 MiB: a 16-aligned block
	 * of at least n bytes, at most ~25% more (a page more when large,
	 * or twice when reusing a large block); all of it writable
	 * without touching the neighbours. */
	for (n = 0; n <= 4 * MIB; n += n < 4096 ? 1 : n < 70000 ? 61 :
	     n / 3 + 1) {
		p = xmalloc(n);
		ck_assert_heap(p);
		u = xusable(p);
		ck_assert_uint_ge(u, n);
		if (n <= 65536)
			ck_assert_uint_le(u, n + n / 4 + 16);
		else
			ck_assert_uint_le(u, 2 * (n + 16 + 4096));
		i = k++ % RING;
		if (ring[i]) {
			ck_assert_block(ring[i], len[i], len[i]);
			xfree(ring[i]);
		}
		fill(p, u, u);
		ring[i] = p;
		len[i] = u;
	}
	for (i = 0; i < RING; i++) {
		ck_assert_block(ring[i], len[i], len[i]);
		xfree(ring[i]);
	}
	/* malloc(0): distinct live blocks. */
	p = xmalloc(0);
	ck_assert_heap(p);
	ck_assert_ptr_ne(p, xmalloc(0));
	/* realloc(NULL, n) allocates; realloc(p, 0) frees. */
	p = xrealloc(NULL, 40);
	ck_assert_heap(p);
	ck_assert_ptr_null(xrealloc(p, 0));
	expect_abort(free_it, p, "free");
	/* Growing and shrinking in place or not: contents kept. */
	p = xmalloc(1000);
	fill(p, 1000, 9);
	p = xrealloc(p, 900);
	ck_assert_block(p, 900, 9);
	p = xrealloc(p, 70000);
	ck_assert_block(p, 900, 9);
	p = xrealloc(p, 10);
	ck_assert_block(p, 10, 9);
	xfree(p);
}
END_TEST

#ifndef __SANITIZE_ADDRESS__
static char *routed_str;

static void
routed_child(void *arg)
{
	(void)arg;
	routed_str = strdup("made in a child");
}

/* libc's own allocations come from the det heap, in any space. */
START_TEST(test_libc_allocations_routed)
{
	char *s, *a = NULL, *buf = NULL, *line = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	int i;

	s = strdup("hello");
	ck_assert_heap(s);
	ck_assert_int_gt(asprintf(&a, "%d-%s", 42, s), 0);
	ck_assert_heap(a);
	ck_assert_str_eq(a, "42-hello");
	f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < 1000; i++)
		fprintf(f, "line %04d\n", i);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_heap(buf);
	ck_assert_uint_eq(len, 10000);
	f = fmemopen(buf, len, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(getline(&line, &cap, f), 10);
	ck_assert_heap(line);
	ck_assert_str_eq(line, "line 0000\n");
	fclose(f);
	ck_assert_int_eq(det_fork(0, routed_child, NULL), DET_OK);
	ck_assert_int_eq(det_join(0, NULL), DET_OK);
	ck_assert_heap(routed_str);
	ck_assert_str_eq(routed_str, "made in a child");
	free(routed_str);
	free(line);
	free(buf);
	free(a);
	free(s);
}
END_TEST
#endif

/* ---- seeded random runs against a model --------------------------------- */

#define RND_ROOT	256	/* slots the root fills; child k may touch
				   those equal to k modulo RND_KIDS */
#define RND_KIDS	4
#define RND_PER_KID	64
#define RND_PAR		(RND_ROOT + RND_KIDS * RND_PER_KID)
#define RND_SLOTS	(RND_PAR + 128)	/* the parent's while children run */
#define RND_ROUNDS	4

struct rslot {
	unsigned char *p;
	size_t n;		/* 0: empty */
	uint64_t id;
};

static struct rslot rnd_tab[RND_SLOTS];
static char rnd_err[RND_KIDS][128];

/* A size in 1..200000, mostly small. */
static size_t
rnd_size(uint64_t *s)
{
	uint64_t r = test_rand(s);

	switch (r % 10) {
	case 0:
		return 65537 + (size_t)(r >> 8) % (200000 - 65536);
	case 1:
	case 2:
		return 513 + (size_t)(r >> 8) % (65536 - 512);
	default:
		return 1 + (size_t)(r >> 8) % 512;
	}
}

/*
 * nops random steps on slots [lo, hi) and, when k >= 0, on the root's
 * slots equal to k modulo RND_KIDS: malloc into an empty slot, free or
 * realloc a full one, checking its contents first.  real == 0 only
 * updates sizes and ids (the model).  0, or -1 with the reason in msg.
 */
static int
rnd_ops(struct rslot *t, uint64_t seed, int nops, size_t lo, size_t hi,
	long k, int real, char *msg, size_t len)
{
	uint64_t s = seed | 1, r, id;
	struct rslot *b;
	unsigned char *q;
	size_t i, n, keep;
	int op;

	for (op = 0; op < nops; op++) {
		r = test_rand(&s);
		id = mix(seed + (uint64_t)op);
		if (k >= 0 && r % 4 == 0)
			i = (size_t)((r >> 8) % (RND_ROOT / RND_KIDS)) *
			    RND_KIDS + (size_t)k;
		else
			i = lo + (size_t)((r >> 8) % (hi - lo));
		b = &t[i];
		if (!b->n) {
			n = rnd_size(&s);
			if (real) {
				q = xmalloc(n);
				if (!q)
					goto fail_alloc;
				fill(q, n, id);
				b->p = q;
			}
			b->n = n;
			b->id = id;
			continue;
		}
		if (real && check(b->p, b->n, b->id) != b->n)
			goto fail_check;
		if (test_rand(&s) % 2) {
			if (real)
				xfree(b->p);
			b->p = NULL;
			b->n = 0;
			continue;
		}
		n = rnd_size(&s);
		if (real) {
			keep = n < b->n ? n : b->n;
			q = xrealloc(b->p, n);
			if (!q)
				goto fail_alloc;
			if (check(q, keep, b->id) != keep)
				goto fail_check;
			fill(q, n, id);
			b->p = q;
		}
		b->n = n;
		b->id = id;
	}
	return 0;

fail_alloc:
	snprintf(msg, len, "op %d: no block of %zu bytes", op, n);
	return -1;
fail_check:
	snprintf(msg, len, "op %d: slot %zu (%p, %zu bytes) corrupt", op, i,
		 (void *)b->p, b->n);
	return -1;
}

static uint64_t rnd_kid_seed[RND_KIDS];

static void
rnd_child(void *arg)
{
	long k = (long)arg;
	size_t lo = RND_ROOT + (size_t)k * RND_PER_KID;

	if (rnd_ops(rnd_tab, rnd_kid_seed[k], 250, lo, lo + RND_PER_KID, k,
		    1, rnd_err[k], sizeof(rnd_err[k])))
		det_exit(1);
}

/* Every slot as the model says; every live block intact, disjoint. */
static void
rnd_verify(const struct rslot *model)
{
	static struct range r[RND_SLOTS];
	size_t i, nr = 0;

	for (i = 0; i < RND_SLOTS; i++) {
		const struct rslot *b = &rnd_tab[i];

		ck_assert_msg(b->n == model[i].n && b->id == model[i].id,
			      "slot %zu: %zu bytes id %#llx, model %zu id "
			      "%#llx", i, b->n, (unsigned long long)b->id,
			      model[i].n, (unsigned long long)model[i].id);
		ck_assert((b->p == NULL) == (b->n == 0));
		if (!b->n)
			continue;
		ck_assert_heap(b->p);
		ck_assert_uint_ge(xusable(b->p), b->n);
		ck_assert_block(b->p, b->n, b->id);
		r[nr].lo = (uintptr_t)b->p;
		r[nr++].hi = (uintptr_t)b->p + b->n;
	}
	assert_disjoint(r, nr);
}

START_TEST(test_random_against_model)
{
	static struct rslot model[RND_SLOTS];
	unsigned long seed = test_seed("check_alloc random");
	uint64_t s = seed + (unsigned long)_i * 7919 + 1, ps;
	struct det_status st;
	char msg[128];
	int round;
	long k;
	size_t i;

	memset(rnd_tab, 0, sizeof(rnd_tab));
	memset(model, 0, sizeof(model));
	for (round = 0; round < RND_ROUNDS; round++) {
		/* The root, on every slot (other spaces' blocks too). */
		ps = test_rand(&s);
		ck_assert_msg(rnd_ops(rnd_tab, ps, 400, 0, RND_SLOTS, -1, 1,
				      msg, sizeof(msg)) == 0,
			      "seed %lu round %d root: %s", seed, round, msg);
		rnd_ops(model, ps, 400, 0, RND_SLOTS, -1, 0, msg, 1);
		rnd_verify(model);
		for (k = 0; k < RND_KIDS; k++) {
			rnd_kid_seed[k] = test_rand(&s);
			ck_assert_int_eq(det_fork((unsigned)k, rnd_child,
						  (void *)k), DET_OK);
		}
		ps = test_rand(&s);
		ck_assert_msg(rnd_ops(rnd_tab, ps, 150, RND_PAR, RND_SLOTS,
				      -1, 1, msg, sizeof(msg)) == 0,
			      "seed %lu round %d parent: %s", seed, round,
			      msg);
		rnd_ops(model, ps, 150, RND_PAR, RND_SLOTS, -1, 0, msg, 1);
		for (k = 0; k < RND_KIDS; k++) {
			size_t lo = RND_ROOT + (size_t)k * RND_PER_KID;

			ck_assert_int_eq(det_join((unsigned)k, &st), DET_OK);
			ck_assert_msg(st.exit_code == 0, "seed %lu round %d "
				      "child %ld: %s", seed, round, k,
				      rnd_err[k]);
			ck_assert_uint_eq(st.nconflicts, 0);
			rnd_ops(model, rnd_kid_seed[k], 250, lo,
				lo + RND_PER_KID, k, 0, msg, 1);
		}
		rnd_verify(model);
	}
	for (i = 0; i < RND_SLOTS; i++)
		xfree(rnd_tab[i].p);
}
END_TEST

/* One case per test (CK_RUN_CASE=test_name runs one), run `loops`
 * times. */
static void
add_case(Suite *s, const TTest *t, int loops)
{
	TCase *tc = tcase_create(t->name);

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, t, 0, loops);
	suite_add_tcase(s, tc);
}

static Suite *
alloc_suite(void)
{
	Suite *s = suite_create("alloc");

	add_case(s, test_children_build_lists, 1);
	add_case(s, test_many_rounds, 1);
	add_case(s, test_realloc_across_joins, 1);
	add_case(s, test_same_addresses_every_run, 1);
	add_case(s, test_nested_spaces, 1);
	add_case(s, test_many_grandchildren_in_turn, 1);
	add_case(s, test_nested_rounds_reuse, 1);
	add_case(s, test_pinned_rounds, 1);
	add_case(s, test_barrier_keeps_heap, 1);
	add_case(s, test_failed_join_returns_range, 1);
	add_case(s, test_barrier_refused_sync, 1);
	add_case(s, test_failed_join_after_sync, 1);
	add_case(s, test_threads_in_root, 1);
	add_case(s, test_child_free_applies_at_join, 1);
	add_case(s, test_bad_free_in_root, 1);
	add_case(s, test_bad_free_wild_heap_pointer, 1);
	add_case(s, test_bad_free_in_child, 1);
	add_case(s, test_child_double_free_of_parent_block, 1);
	add_case(s, test_exhaustion, 1);
	add_case(s, test_aligned, 1);
	add_case(s, test_heap_conflict_report, 1);
	add_case(s, test_calloc, 1);
	add_case(s, test_usable_sizes, 1);
#ifndef __SANITIZE_ADDRESS__
	add_case(s, test_aligned_routed, 1);
	add_case(s, test_libc_allocations_routed, 1);
#endif
	add_case(s, test_random_against_model, 3);
	return s;
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--addr-scenario") == 0)
		return addr_scenario();
	return test_run(alloc_suite());
}
