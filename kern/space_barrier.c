/*
 * space_barrier.c -- det_barrier / det_sync: a child publishes, the
 * parent merges, and the child continues from a fresh snapshot.
 *
 * "Fresh snapshot" means the parent's memory at det_sync.  The cheapest
 * exact way to give a process that memory is to fork the parent again.
 * So the parent forks a replacement process, which takes over the old
 * child's continuation: its fn stack (copied to the same address: the
 * parent keeps that range reserved) and the registers saved by
 * getcontext in det_barrier.  The old process then exits.  State that
 * lives elsewhere in the child (its private mappings, unflushed stdio)
 * does not cross a barrier; stdio is flushed before publishing.  One fd
 * may (space_barrier_fd): the parent takes a copy of it from the old
 * process (pidfd_getfd) before forking the replacement, which inherits
 * it -- a remote child's proxy keeps its connection so.
 *
 * In a remote worker, det_barrier goes to the worker's hook instead
 * (user/lib/remote_worker.c): the proxy on the client does the barrier
 * above for it, and the worker installs the fresh snapshot itself.
 */
#define KERN_INTERNAL
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "space.h"

#define REDZONE	512

/* see kern.h */
int
space_barrier(void)
{
	struct msg reply;
	unsigned i;

	if (rt->depth == 0)
		return -EINVAL;
	for (i = 0; i < DET_MAX_CHILDREN; i++)
		if (rt->child[i].state != SLOT_FREE)
			return -EINVAL;
	/* A remote worker: its proxy syncs with the parent for it. */
	if (rt->worker_publish)
		return rt->worker_barrier ? rt->worker_barrier() : -ENOSYS;
	rt->resumed = 0;
	getcontext(&rt->barrier_ctx);
	if (rt->resumed) {
		/* In the replacement process: the barrier is over. */
		rt->resumed = 0;
		return rt->barrier_rc;
	}
	/* The parent answers MSG_EXIT: a replacement takes over (or, if it
	 * could not make one, this child ends and det_sync says why). */
	space_publish(MSG_BARRIER, 0, &reply);
	child_leave();
}

/* see kern.h */
int
space_barrier_fd(int *fd)
{
	int r;

	assert(*fd >= 0);
	rt->carry_fd = *fd + 1;
	r = space_barrier();
	/* In the replacement: the number the fd has there. */
	*fd = rt->carry_fd - 1;
	rt->carry_fd = 0;
	return r;
}

/* In the replacement process: take over the old child's continuation
 * (carry: the fd it carries across, or -1). */
static void __attribute__((noreturn))
resume_main(unsigned child, const struct child *nc, pid_t parent,
	    const ucontext_t *ctx, const uint8_t *stk, uintptr_t lo,
	    uintptr_t hi, int rc, int carry)
{
	space_become(child, nc, parent);
	rt->carry_fd = carry + 1;
	memcpy((void *)lo, stk, hi - lo);
	rt->barrier_ctx = *ctx;
	rt->barrier_rc = rc;
	rt->resumed = 1;
	setcontext(&rt->barrier_ctx);
	child_fail(-errno);
}

/*
 * The fd the old child (pid; its memory open as memfd) carries across
 * the barrier (its rt->carry_fd), as a new fd of ours into *carry (-1:
 * none).  0 or -errno.
 */
static int
resume_carry(pid_t pid, int memfd, int *carry)
{
	int want = 0, pfd, err = 0;

	*carry = -1;
	if (pread(memfd, &want, sizeof(want),
		  (off_t)(uintptr_t)&rt->carry_fd) != (ssize_t)sizeof(want))
		return -EIO;
	if (want <= 0)
		return 0;
	pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return -errno;
	*carry = (int)syscall(SYS_pidfd_getfd, pfd, want - 1, 0);
	if (*carry < 0)
		err = -errno;
	close(pfd);
	return err;
}

/*
 * Read the old child's saved registers into *ctx, its live stack into a
 * new buffer (*stk, [*lo, *hi)) and the fd it carries into *carry (-1:
 * none; resume_carry).  0 or -errno (nothing held).
 */
static int
resume_capture(const struct child *c, const struct msg *m, ucontext_t *ctx,
	       uint8_t **stk, uintptr_t *lo, uintptr_t *hi, int *carry)
{
	uintptr_t base = (uintptr_t)c->stack, sp;
	ssize_t n;
	int fd, err = 0;

	*carry = -1;
	fd = space_open_mem(c->pid);
	if (fd < 0)
		return fd;
	n = pread(fd, ctx, sizeof(*ctx), (off_t)(uintptr_t)&rt->barrier_ctx);
	if (n != (ssize_t)sizeof(*ctx)) {
		err = n < 0 ? -errno : -EIO;
		goto out;
	}
	sp = (uintptr_t)ctx->uc_mcontext.gregs[REG_RSP];
	if (m->sp < sp)
		sp = m->sp;
	*hi = base + RT_STACK_SIZE;
	*lo = sp - REDZONE;
	if (sp < base + REDZONE || sp >= *hi) {
		err = -EFAULT;
		goto out;
	}
	*stk = rt_mmap(*hi - *lo, 0);
	if (!*stk) {
		err = -ENOMEM;
		goto out;
	}
	n = pread(fd, *stk, *hi - *lo, (off_t)*lo);
	if (n != (ssize_t)(*hi - *lo))
		err = n < 0 ? -errno : -EIO;
	else
		err = resume_carry(c->pid, fd, carry);
	if (err)
		rt_munmap(*stk, *hi - *lo);
out:
	close(fd);
	return err;
}

/* see space.h */
int
space_resume(unsigned child, struct child *c, const struct msg *m, int rc)
{
	struct msg exit_msg = { .type = MSG_EXIT };
	struct child nc = { .sock = -1, .peer = -1, .holder = -1 };
	uintptr_t lo = 0, hi = 0;
	uint8_t *stk = NULL;
	ucontext_t ctx;
	pid_t pid;
	int err, carry = -1;

	err = resume_capture(c, m, &ctx, &stk, &lo, &hi, &carry);
	if (err)
		goto err_end;
	err = space_prepare(&nc);
	if (err)
		goto err_stk;
	/* The replacement runs on the same stack range as the old child. */
	rt_munmap(nc.stack, RT_STACK_SIZE);
	nc.stack = c->stack;
	err = holder_get(&nc);
	if (err) {
		nc.stack = NULL;
		close(nc.peer);
		slot_release(&nc);
		goto err_stk;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		err = -errno;
		nc.stack = NULL;
		close(nc.peer);
		slot_release(&nc);
		goto err_stk;
	}
	if (pid == 0)
		resume_main(child, &nc, rt_getppid(), &ctx, stk, lo, hi, rc,
			    carry);
	if (carry >= 0)
		close(carry);
	close(nc.peer);
	nc.peer = -1;
	rt_munmap(stk, hi - lo);
	space_send(c->sock, &exit_msg);
	space_reap_later(c->pid);
	c->stack = NULL;
	slot_release(c);
	*c = nc;
	c->pid = pid;
	c->state = SLOT_RUNNING;
	return 0;

err_stk:
	rt_munmap(stk, hi - lo);
	if (carry >= 0)
		close(carry);
err_end:
	pr_err("det_sync: cannot resume child %u from a fresh snapshot "
	       "(%s); the child ended", child, strerror(-err));
	space_send(c->sock, &exit_msg);
	while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
	slot_release(c);
	return err;
}
