/*
 * sandbox.h -- the seccomp sandbox of child spaces (kern-private).
 */
#ifndef KERN_SANDBOX_H
#define KERN_SANDBOX_H

#ifndef KERN_INTERNAL
#error "sandbox.h is private to kern/"
#endif

#include <stddef.h>
#include <time.h>

/* Build the filter once, before the first fork; 0 or -errno. */
int sandbox_prepare(void);

/* In a new child: enter the sandbox; 0 or -errno. */
int sandbox_enter(void);

/* The logical clock (2000-01-01 plus 1 us per reading) and the seeded
 * random stream of this space. */
void sandbox_logical_time(struct timespec *ts);
void sandbox_random_fill(void *buf, size_t len);

/* Point the vDSO's time/getcpu/getrandom at the deterministic versions
 * (once per process image); 0 or -errno. */
int sandbox_patch_vdso(void);

/* The root under detrun (DET_DETERMINISTIC=1): a permissive filter that
 * only traps time, randomness and CPU queries, and the vDSO patch. */
int sandbox_root(void);

/* The lazy pager of a remote worker: only reads of uffd and its
 * copy/zero-page/wake ioctls, preads of cache (the node's page cache;
 * -1: none), sends and receives on socks, poll, SIGKILL to worker, exit;
 * anything else raises SIGSYS (the caller's handler).  Unlike the
 * children's filter, DET_NO_SANDBOX does not turn it off.  prepare
 * builds it into runtime memory (it allocates: before the image
 * replaces the heap); enter loads it (no allocation).  0 or -errno. */
int sandbox_pager_prepare(int uffd, int cache, const int *socks, int nsocks,
			  int worker);
int sandbox_pager_enter(void);

/* A SIGSEGV with context ucv from rdtsc/rdtscp while the TSC is trapped:
 * emulate it with the logical clock and return 1; else 0. */
int sandbox_tsc_fault(void *ucv);

/* The name of system call nr ("socket"), or "?". */
void sandbox_syscall_name(long nr, char *buf, size_t len);

#endif /* KERN_SANDBOX_H */
