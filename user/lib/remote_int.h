/*
 * remote_int.h -- what remote.c (parent side), remote_proxy.c (the
 * proxy child) and remote_worker.c (the worker on a node) share.
 * Private to user/lib.
 */
#ifndef USER_REMOTE_INT_H
#define USER_REMOTE_INT_H

#include <stdint.h>

#include "det.h"
#include "kern.h"
#include "net.h"
#include "net_worker.h"

#define PAGE		4096UL
#define PAGE_DOWN(a)	((uintptr_t)(a) & ~(PAGE - 1))
#define PAGE_UP(a)	(((uintptr_t)(a) + PAGE - 1) & ~(PAGE - 1))
#define MAX_NODES	64
#define MAX_REGIONS	NET_MAX_REGIONS
#define WORKER_STACK	(8UL << 20)
#define WORKER_RESERVE	(4UL << 40)	/* address space kept for the
					   client's later mappings */
#define DEFAULT_TIMEOUT	10000
#define DEFAULT_PORT	"7677"

/*
 * The stack protector's canary (glibc x86-64: %fs:0x28).  A worker runs
 * fn with its client's, so that fn's frames restored in the proxy from
 * a checkpoint (remote_worker_restore) pass their canary checks there;
 * set only where no frame made before returns.
 */
static inline uint64_t
canary_get(void)
{
	uint64_t v;

	__asm__ volatile("mov %%fs:0x28, %0" : "=r"(v));
	return v;
}

static inline void
canary_set(uint64_t v)
{
	__asm__ volatile("mov %0, %%fs:0x28" : : "r"(v) : "memory");
}

/* What a proxy tells its parent (a shared page: the proxy cannot write
 * anything else the parent would see without merging it). */
struct remote_shared {
	int failed;		/* the node failed; fn ran here (or not) */
	int merged;		/* a barrier of the child was merged: it
				   cannot run again elsewhere */
	int restored;		/* it went on here from its checkpoint */
	char why[200];
};

/* A child forked on a node, as the parent and its proxy see it. */
struct remote_child {
	int active;
	unsigned node;
	int sock;		/* authenticated connection, or -1 */
	uint32_t tx_seq, rx_seq;
	struct net_keys keys;	/* its frame keys (wiped once forked) */
	det_fn fn;
	void *arg;
	uintptr_t sp;		/* the parent's stack pointer at det_fork */
	struct remote_shared *sh;
	char why[200];		/* why sock is -1 */
};

/* Private state of this process (mapped, never merged). */
struct remote {
	int parsed;
	unsigned nnodes;
	char node[MAX_NODES][256];
	int timeout_ms;
	int compress;		/* DET_COMPRESS=1: lz4 the image */
	int lazy;		/* DET_LAZY=1: pages on first touch */
	int have_key;
	uint8_t key[NET_KEY_LEN];
	char key_err[200];
	/* The program's identity, made once (remote_identity). */
	int have_id;
	uint8_t layout[16];
	long spawn_len;
	uint8_t spawn[NET_MAX_SPAWN];
	struct net_spawn s;
	char cwd[4096];
	char exe[4096];
	char execfn[4096];
	char maps[1 << 16];		/* /proc/self/maps */
	char paths[NET_MAX_LIBS][512];	/* the libraries' paths */
	uint8_t layout_in[1 << 16];	/* what the layout hash covers */
	uint64_t reg[2 + MAX_REGIONS][2];	/* the image's ranges */
	struct remote_child c[DET_MAX_CHILDREN];
	/* One shared page per child for its proxy's report, mapped at
	 * start-up (a mapping made at det_fork_on would move the program's
	 * later mmaps, unlike a local det_fork). */
	struct remote_shared *shared;
};

/* This process's remote state (mapped, excluded from merging) and
 * main's argv (on the stack): set before main (remote.c). */
extern struct remote *R;
extern uintptr_t argv_addr;

/* remote.c */
int remote_setup(void);
int layout_hash(uint8_t out[16]);
/* The file at path read whole into R->maps, NUL-terminated (what does
 * not fit is cut), with open/read: no stdio buffer from the program's
 * heap.  Returns R->maps, or NULL (errno set). */
char *remote_read_file(const char *path);
/* 1 when fd is a file whose name starts with name. */
int is_fd_named(int fd, const char *name);

/* remote_proxy.c: the proxy child's function (arg: its remote_child). */
void remote_proxy(void *arg);

/* remote_lazy.c, in the worker (detrun --lazy).  lazy_setup: of the
 * merged regions reg[2..nreg), keep those whose pages may come while fn
 * runs (devfd: an open /dev/userfaultfd or -1); their number (0: none
 * can), the ranges ((u64 lo, u64 hi) each) at lazy_ranges().
 * lazy_start: before the sandbox, fork the process that serves their
 * faults on connection c (the worker's, continued there) with the
 * node's cache; 0 or -errno.
 * lazy_go: the space began (its ranges are registered): serve.
 * lazy_touch: fault in the lazy pages in [lo, hi) (before lazy_stop:
 * a missing page touched after it would wait forever).
 * lazy_stop: fn ended: stop it, take the connection back (its frame
 * counters from ctl); 0 or -errno (it failed). */
size_t lazy_setup(const uint64_t (*reg)[2], uint32_t nreg, int devfd);
/* Before the image (it allocates): build the handler's seccomp filter
 * (cache_fd: the node's page cache, -1: none).  0 or -errno. */
int lazy_prepare(int cache_fd);
const void *lazy_ranges(void);
int lazy_start(struct net_conn *c, struct net_wctl_page *ctl,
	       struct net_cache *cache, uint8_t *frame);
void lazy_go(void);
void lazy_touch(uintptr_t lo, uintptr_t hi);
int lazy_stop(struct net_conn *c, const struct net_wctl_page *ctl);

/* remote_proxy.c: send [lo, hi) (page aligned) as PAGES frames (PAGESZ
 * when compressing pays).  0 or -errno. */
int remote_send_pages(struct net_conn *c, uintptr_t lo, uintptr_t hi);

/* remote_prefetch.c, in the proxy after GO with a lazy image: send the
 * pages of the n lazy ranges r (FAULTs first, then in address order; by
 * hash first when hashes) until the worker's LAZY_END, and answer it.
 * Other frames go to other(), whose 1 ends this with -ECONNABORTED.
 * frame: NET_MAX_FRAME bytes of scratch.  0 or -errno. */
int remote_prefetch(struct net_conn *c, const uint64_t (*r)[2], size_t n,
		    int hashes, uint8_t *frame,
		    int (*other)(const struct net_hdr *h,
				 const uint8_t *frame, void *ctx),
		    void *ctx);

/* remote_populate.c, in the worker while the image arrives: a thread
 * that materialises the merged regions reg[2..nreg) (but those in skip)
 * ahead of the receiving; populate_stop ends it (before the sandbox). */
void populate_start(const uint64_t (*reg)[2], uint32_t nreg,
		    const uint64_t (*skip)[2], size_t nskip);
void populate_stop(void);

/* remote_worker.c: become the worker detd started (never returns). */
void remote_worker_main(void) __attribute__((noreturn));

/* remote_worker.c, in a proxy whose node failed after a merged barrier:
 * go on with fn from the worker's CHECKPOINT payload ck (len bytes) of
 * that barrier, as if det_barrier returned rc here (fn's stack is at
 * this proxy's own stack addresses).  Returns only on failure (-errno:
 * the checkpoint does not fit this proxy's stack). */
int remote_worker_restore(const uint8_t *ck, size_t len, int rc);

#endif /* USER_REMOTE_INT_H */
