/*
 * net_prog.c -- a det program for the remote-space tests (tests/net.sh):
 *
 *   net_prog MODE NODES...
 *
 * forks one child per NODES entry with det_fork_on(k, NODES[k], ...);
 * node 0 is local.  Children write their slice of a global array and of
 * a heap array, read an argument struct on the parent's stack, allocate
 * a list, print; the parent joins them in order and prints every join's
 * status and a digest of all the memory they produced.  Run with all
 * nodes 0 and with real nodes: the output must be identical.
 *   MODE work      the above
 *   MODE conflict  children 0 and 1 also write the same variable
 *   MODE crash     child 1 dereferences NULL
 *   MODE policy    child 1 calls socket(2)
 *   MODE exit      child 1 calls det_exit(7)
 *   MODE slow      child 1 also sleeps 3 s (time to kill its node)
 *   MODE nest      child 1 forks a child of its own that reads the whole
 *                  heap array (on a node: where it runs, after every
 *                  lazily paged page is in)
 *   MODE big MIB   one child reads a MIB-MiB heap area and writes 1%
 *   MODE bar       children iterate a stencil over the whole global
 *                  array in ROUNDS rounds with det_barrier (reading
 *                  their neighbours' slices as of the last det_sync),
 *                  allocate a node a round, print a line a round and
 *                  det_barrier's result; the parent det_syncs each child
 *                  every round and prints each sync's status
 *   MODE barconflict  bar, and in round 1 children 0 and 1 write the
 *                  same variable (a conflict at a det_sync)
 *   MODE barslow   bar, child 1 sleeps 3 s before its first barrier
 *   MODE barlate   bar, child 1 sleeps 3 s before its third barrier
 *   MODE barbig MIB  one child reads a MIB-MiB heap area and writes 1% of
 *                  it in each of ROUNDS rounds, with det_barrier
 */
#include <det.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define N	4096
#define ROUNDS	4

static uint64_t global[N];
static uint64_t *heap;
static int shared_var;
static const char *mode;
static uint8_t *big;
static uint64_t *chunk[64];	/* MODE bar*: each child's last chunk */
static size_t big_len;

struct task {
	unsigned k, n;
	uint64_t seed;
	struct node *list;
};

struct node {
	struct node *next;
	uint64_t v;
};

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

/* A grandchild (MODE nest): fold the heap array into the first word of
 * its parent's slice. */
static void
nested(void *arg)
{
	struct task *t = arg;
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < N; i++)
		sum = sum * 31 + heap[i];
	global[t->k * N / t->n] ^= sum;
}

static void
work(void *arg)
{
	struct task *t = arg;	/* on the parent's stack */
	unsigned i, lo = t->k * N / t->n, hi = (t->k + 1) * N / t->n;
	struct node *l = NULL;

	for (i = lo; i < hi; i++) {
		global[i] = mix(t->seed + i);
		heap[i] = global[i] ^ heap[i];
	}
	for (i = 0; i < 100; i++) {
		struct node *x = malloc(sizeof(*x));

		x->v = mix(i + t->k);
		x->next = l;
		l = x;
	}
	t->list = l;		/* the parent's stack: not merged */
	heap[N + t->k] = (uint64_t)(uintptr_t)l;
	printf("child %u: slice %u..%u, first %016llx\n", t->k, lo, hi,
	       (unsigned long long)global[lo]);
	fprintf(stderr, "child %u: stderr line\n", t->k);
	if (strcmp(mode, "conflict") == 0 && t->k < 2)
		shared_var = 10 + (int)t->k;
	if (t->k == 1 && strcmp(mode, "crash") == 0)
		*(volatile int *)0 = 1;
	if (t->k == 1 && strcmp(mode, "policy") == 0)
		socket(AF_INET, SOCK_STREAM, 0);
	if (t->k == 1 && strcmp(mode, "exit") == 0)
		det_exit(7);
	if (t->k == 1 && strcmp(mode, "nest") == 0) {
		struct det_status st;

		if (det_fork(0, nested, t) != DET_OK ||
		    det_join(0, &st) != DET_OK)
			printf("child %u: nested fork failed\n", t->k);
	}
	if (t->k == 1 && strcmp(mode, "slow") == 0)
		for (i = 0; i < 30; i++)
			usleep(100000);
}

/* MODE bar*: ROUNDS rounds of a stencil over global[], det_barrier
 * between them. */
static void
bar_work(void *arg)
{
	struct task *t = arg;	/* on the parent's stack */
	unsigned k = t->k, i, r, lo = k * N / t->n, hi = (k + 1) * N / t->n;
	struct node *x;
	int rc;

	for (r = 0; r < ROUNDS; r++) {
		for (i = lo; i < hi; i++)
			global[i] = mix(global[(i + N - 1) % N] ^
					global[i] * 3 ^
					global[(i + 1) % N] * 5 ^ r);
		/* The list as merged so far (a round whose merge failed
		 * is not in it). */
		x = malloc(sizeof(*x));
		x->v = mix(global[lo] + r);
		x->next = (struct node *)(uintptr_t)heap[N + k];
		heap[N + k] = (uint64_t)(uintptr_t)x;
		printf("child %u round %u: %016llx\n", k, r,
		       (unsigned long long)global[lo]);
		if (r == 1 || r == 2) {
			/* A new heap chunk in rounds 1 and 2 (in round 1 of
			 * barconflict, child 1's is not merged: round 2 gets
			 * the same addresses, fresh again: what it reads
			 * there must be the same as in a local child). */
			uint64_t *b = malloc(8 << 18), sum = 0;

			for (i = 0; i < 1 << 18; i += 512) {
				sum += b[i];
				b[i] = mix(i + r + k);
			}
			chunk[k] = b;
			printf("child %u chunk %u: %p sum %llu\n", k, r,
			       (void *)b, (unsigned long long)sum);
		}
		if (strcmp(mode, "barconflict") == 0 && r == 1 && k < 2)
			shared_var = 10 + (int)k;
		if (k == 1 && ((strcmp(mode, "barslow") == 0 && r == 0) ||
			       (strcmp(mode, "barlate") == 0 && r == 2)))
			for (i = 0; i < 30; i++)
				usleep(100000);
		rc = det_barrier();
		printf("child %u barrier %u: %d\n", k, r, rc);
	}
	fprintf(stderr, "child %u: %u rounds\n", k, r);
}

static void
touch_big(void *arg)
{
	size_t i, step = 100 * 4096;
	uint64_t sum = 0;

	(void)arg;
	for (i = 0; i < big_len; i += step) {
		sum += big[i];
		big[i] = (uint8_t)(sum + i);
	}
	printf("big: %llu\n", (unsigned long long)sum);
}

/* MODE barbig: ROUNDS rounds over the big area, det_barrier between. */
static void
bar_big(void *arg)
{
	size_t i, step = 100 * 4096;
	uint64_t sum = 0;
	unsigned r;

	(void)arg;
	for (r = 0; r < ROUNDS; r++) {
		for (i = r * 4096; i < big_len; i += step) {
			sum += big[i];
			big[i] = (uint8_t)(sum + i + r);
		}
		printf("barbig %u: %llu\n", r, (unsigned long long)sum);
		det_barrier();
	}
}

static uint64_t
digest(void)
{
	uint64_t h = 1469598103934665603ull;
	unsigned i;

	for (i = 0; i < N; i++)
		h = (h ^ global[i] ^ heap[i]) * 1099511628211ull;
	for (i = 0; i < 64; i++) {
		struct node *l = (struct node *)(uintptr_t)heap[N + i];

		for (; l; l = l->next)
			h = (h ^ l->v ^ (uintptr_t)l) * 1099511628211ull;
	}
	for (i = 0; i < 64; i++)
		if (chunk[i])
			h = (h ^ chunk[i][512] ^ (uintptr_t)chunk[i]) *
			    1099511628211ull;
	if (big)
		for (i = 0; i < big_len; i += 4096)
			h = (h ^ big[i]) * 1099511628211ull;
	return (h ^ (uint64_t)shared_var) * 1099511628211ull;
}

int
main(int argc, char **argv)
{
	struct task t[64];
	unsigned n, k, i;
	int first = 2;

	if (argc < 3)
		return 2;
	mode = argv[1];
	heap = calloc(N + 64, sizeof(*heap));
	for (i = 0; i < N; i++)
		heap[i] = mix(i * 7);
	if (strcmp(mode, "big") == 0 || strcmp(mode, "barbig") == 0) {
		big_len = (size_t)atoi(argv[2]) << 20;
		big = malloc(big_len);
		for (i = 0; i < big_len / 4096; i++)
			memset(big + (size_t)i * 4096, (int)(i * 13), 4096);
		first = 3;
	}
	n = (unsigned)(argc - first);
	for (i = 0; strncmp(mode, "bar", 3) == 0 && i < N; i++)
		global[i] = mix(i + 1);
	for (k = 0; k < n && k < 64; k++) {
		unsigned node = (unsigned)atoi(argv[first + k]);
		int r;

		t[k] = (struct task){ .k = k, .n = n, .seed = 42 };
		r = det_fork_on(k, node, big ? (mode[0] == 'b' && mode[1] ==
						 'a' ? bar_big : touch_big) :
				strncmp(mode, "bar", 3) == 0 ? bar_work : work,
				&t[k]);
		if (r != DET_OK) {
			printf("fork %u on node %u: %d\n", k, node, r);
			return 1;
		}
	}
	/* The parent's own allocations and mappings after remote forks
	 * land where they would after local ones. */
	{
		void *m1 = malloc(200), *m2 = malloc(70000);
		void *m3 = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		printf("parent: %p %p %p\n", m1, m2, m3);
	}
	for (i = 0; strncmp(mode, "bar", 3) == 0 && i < ROUNDS; i++)
		for (k = 0; k < n && k < 64; k++) {
			struct det_status st;
			int r = det_sync(k, &st);

			printf("sync %u.%u: %d code %d conflicts %zu\n", i, k,
			       r, st.code, st.nconflicts);
		}
	for (k = 0; k < n && k < 64; k++) {
		struct det_status st;
		int r = det_join(k, &st);

		printf("join %u: %d code %d signal %d syscall %ld exit %d\n",
		       k, r, st.code, st.signal, st.syscall_nr, st.exit_code);
	}
	printf("shared %d\ndigest %016llx\n", shared_var,
	       (unsigned long long)digest());
	return 0;
}
