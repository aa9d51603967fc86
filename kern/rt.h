/*
 * rt.h -- the runtime's private state, shared by the kern/ modules.
 *
 * Invariant: every byte of mutable runtime state lives in memory the
 * runtime mapped itself (rt_mmap), which is registered as excluded and
 * therefore never merged.  The only runtime variable in the program's
 * data/bss (when libdet.a is linked statically) is the `rt` pointer, set
 * once before the first fork and identical in every space.
 */
#ifndef KERN_RT_H
#define KERN_RT_H

#ifndef KERN_INTERNAL
#error "rt.h is private to kern/: include kern.h instead"
#endif

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <ucontext.h>

#include "det.h"
#include "kern.h"
#include "sym.h"

#define PAGE_SIZE	4096UL
#define PAGE_SHIFT	12
#define PAGE_DOWN(a)	((uintptr_t)(a) & ~(PAGE_SIZE - 1))
#define PAGE_UP(a)	(((uintptr_t)(a) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))

#define RT_MAX_OWN	480	/* runtime mappings at once (rt_mmap) */
#define RT_STACK_SIZE	(8UL << 20)
#define RT_MAX_REAP	64
#define RT_MAX_OUTPOOL	32
#define RT_MAX_HOLDERS	(DET_MAX_CHILDREN + 1)

enum region_kind { REGION_EXE, REGION_HEAP, REGION_ANON };

/* One merged region: page aligned, private, writable at fork time. */
struct region {
	uintptr_t lo;
	uintptr_t hi;
	size_t first;		/* index of its first page in the bitmap */
	int kind;		/* enum region_kind */
};

/* The merged memory of a space at one instant (see space_map.c). */
struct regions {
	size_t n;
	size_t npages;		/* total pages over all regions */
	size_t bytes;		/* size of this allocation */
	struct region r[];
};

/* Messages on the parent <-> child socket. */
enum msg_type {
	MSG_DONE = 1,		/* child: finished, dirty pages published */
	MSG_BARRIER,		/* child: at det_barrier, published */
	MSG_FAIL,		/* child: runtime failure (code: -errno) */
	MSG_POLICY,		/* child: refused syscall (code: its number) */
	MSG_ACK,		/* parent: merged (code: result) */
	MSG_EXIT,		/* parent: a replacement took over, leave */
};
struct msg {
	int type;
	int code;		/* DONE: exit code; FAIL: -errno; ACK: result */
	size_t npages;		/* dirty pages published */
	size_t nfresh;		/* fresh ranges published (see rt->fresh) */
	uintptr_t sp;		/* stack pointer at publish */
	int running_children;	/* the sender still has children running */
	struct space_stats stats;	/* DONE: the child's own counters */
};

/* One timeline event (detrun --trace), recorded by the parent of the
 * space it is about. */
struct trace_ev {
	uint64_t t_ns;
	uint32_t child;
	uint32_t what;		/* enum trace_what */
	char parent[80];	/* the recording space's path */
};

/* Every space's events, in one shared mapping the root makes: a space
 * appends with an atomic increment of n. */
struct trace_buf {
	uint64_t n;
	struct trace_ev ev[];
};

enum trace_what { TR_FORK, TR_JOIN_WAIT, TR_MERGE, TR_JOINED };
#define RT_MAX_TRACE	65536

enum slot_state { SLOT_FREE = 0, SLOT_RUNNING };

/* A snapshot holder of this space (space_holder.c). */
struct holder_patch {
	uintptr_t page;		/* written into the holder by its parent */
	uint64_t hash;		/* xxh3 of the bytes written */
};

struct holder {
	pid_t pid;		/* 0: free slot */
	int refs;		/* running children using it */
	int wfd;		/* closing it ends the holder */
	struct regions *map;	/* the merged regions it holds */
	struct holder_patch *patch;	/* RT_HOLDER_PATCH entries, or NULL */
	size_t npatch;
};

/* Pages a parent may write into an idle holder instead of forking a new
 * one (space_holder.c). */
#define RT_HOLDER_PATCH	256

/* A forked child, as its parent sees it. */
struct child {
	int state;		/* enum slot_state */
	pid_t pid;
	int pidfd;
	int sock;		/* parent's end of the socket pair */
	int peer;		/* child's end, until fork */
	struct regions *map;	/* merged regions at fork */
	uint8_t *bitmap;	/* shared with the child: dirty pages, then
				   its fresh ranges (rt_fresh_area) */
	size_t bitmap_len;
	void *stack;		/* the child's fn stack (reserved here) */
	int holder;		/* index in rt->holders, or -1 */
	int out_fd;		/* the child's captured stdout, stderr */
	int err_fd;
};

struct dirty_ops;

struct rt {
	int inited;
	unsigned depth;		/* 0 in the root */
	unsigned self;		/* child number, 0 in the root */
	char path[80];		/* "0", "0.3", "0.3.1": the place in the tree */
	uint64_t path_hash;

	/* The sandbox (sandbox.c). */
	void *bpf;		/* the filter, built once */
	size_t bpf_len;
	void *pager_bpf;	/* a remote worker's lazy pager's filter */
	size_t pager_bpf_len;
	int sandboxed;		/* this process runs under it */
	uint64_t rand_state;	/* getrandom stream of this space */
	uint64_t clock_ns;	/* the logical clock */
	int vdso_patched;
	int tsc_trapped;		/* rdtsc raises SIGSEGV (PR_SET_TSC) */
	int deterministic;	/* the root runs under detrun */
	unsigned cpus;		/* CPU count children see (DET_CPUS) */
	pid_t vpid;		/* the ids the program sees: getpid, gettid */
	pid_t vppid;		/* getppid */

	/* Child side: how to publish to the parent. */
	int parent_sock;
	struct regions *map;
	uint8_t *bitmap;
	size_t bitmap_len;
	const struct dirty_ops *dirty;
	int dirty_failed;	/* dirty_select failed: said once */
	void *dirty_state;
	uintptr_t stack_lo;
	/* A remote worker's lazy image (space_worker_lazy): ranges whose
	 * missing pages another process fills through lazy_uffd (+1; 0:
	 * none) while the space runs. */
	int lazy_uffd;
	const uintptr_t (*lazy)[2];
	size_t nlazy;
	struct rt_rangeset fresh;	/* memory this space mapped itself
					   and asked to merge (whole) */
	det_fn fn;
	void *arg;
	ucontext_t start_ctx;	/* runs fn on the child's own stack */
	ucontext_t barrier_ctx;	/* saved by det_barrier */
	int barrier_rc;
	volatile int resumed;	/* set in a process resumed after a barrier */
	int carry_fd;		/* fd + 1 that crosses the barrier (0: none;
				   space_barrier_fd) */

	/* Set-up, once, in the root. */
	struct rt_rangeset own;		/* runtime-private mappings */
	struct rt_rangeset sys;		/* libc/ld.so/library memory */
	struct rt_rangeset exe;		/* executable's writable segments */
	struct rt_rangeset ignore;	/* bytes never merged (.got.plt) */
	char exe_path[4096];
	char *stdio_buf;

	void (*child_start_hook)(unsigned child);
	void (*worker_publish)(int code);	/* a remote worker's end */
	int (*worker_barrier)(void);	/* a remote worker's det_barrier */
	int (*describe_hook)(uintptr_t addr, char *buf, size_t len);

	struct child child[DET_MAX_CHILDREN];
	struct holder holders[RT_MAX_HOLDERS];
	int hcur;			/* the current holder, or -1 */
	pid_t reap[RT_MAX_REAP];	/* exiting children, reaped later */
	int outpool[RT_MAX_OUTPOOL];	/* emptied capture files, reused */
	size_t noutpool;
	size_t nreap;
	struct space_stats stats;
	const char *avail[8];
	struct trace_buf *trace;	/* DET_TRACE: events, or NULL */
	unsigned perturb;	/* DET_PERTURB: random delays (detrun
				   --check), rand_r state; 0: none */
};

extern struct rt *rt;

/* The fresh-range list at the end of a child's shared area. */
static inline struct rt_rangeset *
rt_fresh_area(uint8_t *bitmap, size_t len)
{
	return (struct rt_rangeset *)(bitmap + len -
				      sizeof(struct rt_rangeset));
}

/* rt.c */
void *rt_mmap(size_t len, int shared);
void rt_munmap(void *p, size_t len);
uint64_t rt_now_ns(void);

/*
 * The runtime's key: getpid, getppid, gettid (first argument), kill,
 * tkill (third), tgkill (fourth) and clock_gettime (third) reach the
 * kernel under the sandbox and the root's filter only with it; without
 * it they are emulated (virtual ids, the logical clock).  The runtime
 * calls them through these.
 */
#define RT_KEY		0x6465742d6b657921ull	/* "det-key!" */
pid_t rt_getpid(void);
pid_t rt_getppid(void);

/* Become the space at path ("0.3.1"): rt->path, path_hash, and the
 * virtual ids (the root's RT_VPID_ROOT under detrun; a child's
 * RT_VPID_ROOT + 1 + its path hash modulo the rest; its parent's). */
void rt_set_path(const char *path);
/* Virtual process ids: the root's (under detrun), and the bound of a
 * child's (RT_VPID_ROOT + 1 + its path hash modulo the rest). */
#define RT_VPID_ROOT	1000
#define RT_VPID_MAX	4194304

/* space_map.c */
int map_collect(struct regions **out);
void map_free(struct regions *m);
const struct region *map_find(const struct regions *m, uintptr_t a);
int map_sys_init(void);

#endif /* KERN_RT_H */
