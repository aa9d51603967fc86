/*
 * remote_populate.c -- in the worker, while the image arrives: a thread
 * that materialises the image's merged regions ahead of the receiving
 * (MADV_POPULATE_WRITE, in address order, the order the client sends
 * them).  Receiving into fresh memory otherwise takes a page fault and
 * a page of zeroing inside every 4 KiB of the socket copy; with the
 * pages made on the other CPU first, the copy runs at the speed of
 * receiving into a reused buffer.
 *
 * The thread is a bare clone (no pthread: the worker's heap is being
 * replaced by the image, and the thread must not touch errno or any
 * other thread-local state of the main thread): it makes system calls
 * by hand and reads only its argument block.  It is stopped and gone
 * before the worker enters its sandbox (populate_stop).
 */
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "remote_int.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif
#define POP_CHUNK	(4UL << 20)	/* per madvise call */
#define POP_STACK	(64UL << 10)
#define POP_MAX		256		/* ranges */

/* Shared with the thread (a private mapping of the worker). */
struct pop {
	volatile int stop;		/* set by populate_stop */
	volatile pid_t tid;		/* cleared by the kernel at its end */
	size_t n;
	uint64_t r[POP_MAX][2];
};

static struct pop *P DET_PRIVATE;

#if defined(__x86_64__)
/* A system call without errno (the thread shares the main thread's
 * thread-local storage). */
static long
pop_syscall3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

/* The thread: populate each range in chunks until done or stopped. */
static int
pop_main(void *arg)
{
	struct pop *p = arg;
	uint64_t a, len;
	size_t i;

	for (i = 0; i < p->n && !p->stop; i++)
		for (a = p->r[i][0]; a < p->r[i][1] && !p->stop; a += len) {
			len = p->r[i][1] - a < POP_CHUNK ? p->r[i][1] - a
							 : POP_CHUNK;
			if (pop_syscall3(SYS_madvise, (long)a, (long)len,
					 MADV_POPULATE_WRITE) == -EINVAL)
				return 0;	/* an older kernel */
		}
	return 0;
}
#endif

/* see remote_int.h */
void
populate_start(const uint64_t (*reg)[2], uint32_t nreg,
	       const uint64_t (*skip)[2], size_t nskip)
{
#if defined(__x86_64__)
	size_t len = PAGE_UP(sizeof(*P)) + POP_STACK, k;
	uint32_t i;
	uint8_t *m;

	m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return;		/* only slower */
	space_exclude((uintptr_t)m, (uintptr_t)m + len);
	P = (struct pop *)m;
	for (i = 2; i < nreg && P->n < POP_MAX; i++) {
		for (k = 0; k < nskip; k++)
			if (skip[k][0] == reg[i][0] && skip[k][1] == reg[i][1])
				break;
		if (k < nskip || reg[i][1] - reg[i][0] < POP_CHUNK)
			continue;	/* lazy, or not worth it */
		P->r[P->n][0] = PAGE_UP(reg[i][0]);
		P->r[P->n][1] = PAGE_DOWN(reg[i][1]);
		P->n++;
	}
	if (!P->n ||
	    clone(pop_main, m + len, CLONE_VM | CLONE_FS | CLONE_FILES |
		  CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
		  CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID, P, &P->tid,
		  NULL, &P->tid) < 0) {
		munmap(m, len);
		P = NULL;
	}
#else
	(void)reg;
	(void)nreg;
	(void)skip;
	(void)nskip;
#endif
}

/* see remote_int.h */
void
populate_stop(void)
{
	pid_t t;

	if (!P)
		return;
	P->stop = 1;
	while ((t = P->tid) != 0)
		syscall(SYS_futex, &P->tid, FUTEX_WAIT, t, NULL, NULL, 0);
	munmap(P, PAGE_UP(sizeof(*P)) + POP_STACK);
	P = NULL;
}
