/*
 * space.c -- spaces as Linux processes: fork, snapshot holder, publish,
 * join.
 *
 * Fork: the parent computes the merged regions (space_map.c), maps a
 * shared dirty bitmap, and forks the child.  The child first forks a
 * snapshot holder -- a frozen copy of the fork-time memory that shares
 * every page copy-on-write -- then starts its dirty-page backend and runs
 * fn on its own stack.  Publish (end of fn, det_exit, det_barrier): the
 * child fills the bitmap and sends MSG_DONE, then waits.  Join: the
 * parent reads the snapshot from /proc/HOLDER/mem and the child's pages
 * from /proc/CHILD/mem and merges (space_merge.c), then lets the child
 * exit.  Every space dies with its parent (PR_SET_PDEATHSIG).
 */
#define KERN_INTERNAL
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dirty.h"
#include "log.h"
#include "sandbox.h"
#include "space.h"

/* Set up before main, wherever kern/ is linked (detrun included). */
__attribute__((constructor(101))) static void
space_init_early(void)
{
	int err = space_init();

	if (err) {
		pr_err("cannot start the runtime: %s", strerror(-err));
		_exit(2);
	}
}

/* see kern.h */
int
space_init(void)
{
	struct rt *r;
	unsigned i;
	int err;

	if (rt)
		return 0;
	r = mmap(NULL, PAGE_UP(sizeof(*r)), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return -errno;
	rt = r;
	rt_range_add(&rt->own, (uintptr_t)r,
		     (uintptr_t)r + PAGE_UP(sizeof(*r)));
	rt->parent_sock = -1;
	rt->hcur = -1;
	rt_set_path("0");
	for (i = 0; i < DET_MAX_CHILDREN; i++) {
		rt->child[i].sock = rt->child[i].peer = -1;
		rt->child[i].holder = -1;
		rt->child[i].out_fd = rt->child[i].err_fd = -1;
	}
	err = map_sys_init();
	if (err)
		return err;
	/* stdio buffers live in runtime memory: never merged, so parent
	 * and children may printf freely between fork and join. */
	rt->stdio_buf = rt_mmap(2 * BUFSIZ, 0);
	if (rt->stdio_buf) {
		setvbuf(stdout, rt->stdio_buf,
			isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, BUFSIZ);
		setvbuf(stdin, rt->stdio_buf + BUFSIZ, _IOFBF, BUFSIZ);
	}
	if (getenv("DET_TRACE"))
		rt->trace = rt_mmap(sizeof(*rt->trace) + RT_MAX_TRACE *
				    sizeof(rt->trace->ev[0]), 1);
	if (getenv("DET_PERTURB"))
		rt->perturb = (unsigned)strtoul(getenv("DET_PERTURB"),
						NULL, 0) | 1;
	if (getenv("DET_DETERMINISTIC")) {
		rt->deterministic = 1;
		err = sandbox_root();
		if (err)
			return err;
	}
	rt->inited = 1;
	return 0;
}

/* see kern.h */
const char *
space_backend(void)
{
	if (!rt->dirty && !rt->dirty_failed) {
		rt->dirty = dirty_select(getenv("DET_DIRTY"));
		rt->dirty_failed = rt->dirty == NULL;
	}
	return rt->dirty ? rt->dirty->name : NULL;
}

/* see kern.h */
const char *const *
space_backends_available(void)
{
	size_t i, n = 0;

	for (i = 0; dirty_backends[i]; i++)
		if (dirty_backends[i]->probe() == 0)
			rt->avail[n++] = dirty_backends[i]->name;
	rt->avail[n] = NULL;
	return rt->avail;
}

/* see kern.h */
int
space_new_range(uintptr_t lo, uintptr_t hi)
{
	if (rt->depth == 0)
		return 0;
	rt_range_add(&rt->fresh, lo, hi);
	return rt->fresh.overflow ? -ENOMEM : 0;
}

/* see kern.h */
int
space_drop_range(uintptr_t lo, uintptr_t hi)
{
	if (rt->depth == 0)
		return 0;
	/* Never let a split overflow the set: space_new_range would
	 * then fail for good. */
	if (rt->fresh.n >= RT_MAX_RANGES)
		return -ENOMEM;
	rt_range_del(&rt->fresh, lo, hi);
	return 0;
}

/* see kern.h */
void
space_set_hooks(void (*child_start)(unsigned child),
		int (*describe)(uintptr_t addr, char *buf, size_t len))
{
	rt->child_start_hook = child_start;
	rt->describe_hook = describe;
}

/* see kern.h */
int
space_describe_code(uintptr_t pc, char *buf, size_t len)
{
	return sym_describe_code(pc, buf, len);
}

/* see kern.h */
int
space_exclude(uintptr_t lo, uintptr_t hi)
{
	if (!rt)
		return -EAGAIN;
	rt_range_add(&rt->own, PAGE_DOWN(lo), PAGE_UP(hi));
	return rt->own.overflow ? -ENOMEM : 0;
}

/* see kern.h */
int
space_child_running(unsigned child)
{
	return child < DET_MAX_CHILDREN &&
	       rt->child[child].state == SLOT_RUNNING;
}

unsigned
space_depth(void)
{
	return rt->depth;
}

unsigned
space_self(void)
{
	return rt->self;
}

/* see kern.h */
const char *
space_path(void)
{
	return rt->path;
}

const struct space_stats *
space_stats(void)
{
	return &rt->stats;
}

/* Record a timeline event about this space's child (DET_TRACE). */
static void
trace(unsigned child, enum trace_what what)
{
	struct trace_ev *e;
	uint64_t i;

	if (!rt->trace)
		return;
	i = __atomic_fetch_add(&rt->trace->n, 1, __ATOMIC_RELAXED);
	if (i >= RT_MAX_TRACE)
		return;
	e = &rt->trace->ev[i];
	e->child = child;
	e->what = what;
	snprintf(e->parent, sizeof(e->parent), "%s", rt->path);
	__atomic_store_n(&e->t_ns, rt_now_ns(), __ATOMIC_RELEASE);
}

/* A line (thread id) per space in the trace: a hash of its path. */
static unsigned
trace_line(const char *path)
{
	unsigned h = 2166136261u;

	while (*path)
		h = (h ^ (uint8_t)*path++) * 16777619u;
	return h % 1000000000u + 2;
}

/* detrun --check: a random delay of up to 2 ms, different every run. */
static void
perturb(void)
{
	if (rt->perturb)
		usleep((useconds_t)(rand_r(&rt->perturb) % 2000));
}

/* see kern.h */
int
space_trace_write(const char *path)
{
	static const char *what[] = { "fork", "wait", "merge", "joined" };
	uint64_t i, n, t0 = 0;
	char space[96];
	FILE *f;

	if (!rt->trace)
		return 0;
	n = rt->trace->n < RT_MAX_TRACE ? rt->trace->n : RT_MAX_TRACE;
	for (i = 0; i < n; i++)
		if (rt->trace->ev[i].t_ns && (!t0 ||
					      rt->trace->ev[i].t_ns < t0))
			t0 = rt->trace->ev[i].t_ns;
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "{\"traceEvents\":[\n");
	fprintf(f, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,"
		"\"tid\":1,\"args\":{\"name\":\"space %s (root)\"}}\n",
		rt->path);
	for (i = 0; i < n; i++) {
		const struct trace_ev *e = &rt->trace->ev[i];
		unsigned line;

		if (!e->t_ns)
			continue;	/* a space ended mid-record */
		snprintf(space, sizeof(space), "%s.%u", e->parent, e->child);
		line = trace_line(space);
		/* A child's life is a span from its fork to its join, on
		 * a line of its own (named at its fork); waiting and
		 * merging are instants on that line. */
		if (e->what == TR_FORK)
			fprintf(f, ",{\"name\":\"thread_name\",\"ph\":"
				"\"M\",\"pid\":1,\"tid\":%u,\"args\":"
				"{\"name\":\"space %s\"}}\n", line, space);
		fprintf(f, ",{\"name\":\"space %s: %s\",\"ph\":\"%s\","
			"\"ts\":%.3f,\"pid\":1,\"tid\":%u}\n", space,
			what[e->what], e->what == TR_FORK ? "B" :
			e->what == TR_JOINED ? "E" : "i",
			(double)(e->t_ns - t0) / 1000.0, line);
	}
	fprintf(f, "],\"displayTimeUnit\":\"ms\"}\n");
	return fclose(f) ? -errno : 0;
}

/* Release everything a parent holds for slot c. */
void
slot_release(struct child *c)
{
	if (c->sock >= 0)
		close(c->sock);
	holder_put(c);
	output_close(c);
	map_free(c->map);
	rt_munmap(c->bitmap, c->bitmap_len);
	rt_munmap(c->stack, RT_STACK_SIZE);
	memset(c, 0, sizeof(*c));
	c->sock = -1;
	c->peer = -1;
	c->holder = -1;
	c->out_fd = c->err_fd = -1;
}

/*
 * A joined child tears itself and its holder down after the parent's
 * answer; the parent does not wait for that (page-table teardown of a
 * large space takes milliseconds) but reaps it later, here.  With
 * block set, waits for every one of them.
 */
void
space_reap(int block)
{
	size_t i = 0;

	while (i < rt->nreap) {
		pid_t r = waitpid(rt->reap[i], NULL, block ? 0 : WNOHANG);

		if (r == 0) {
			i++;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		rt->reap[i] = rt->reap[--rt->nreap];
	}
}

/* Reap pid later (see space_reap); pids <= 0 (already reaped) are not
 * processes: waitpid would take any child. */
void
space_reap_later(pid_t pid)
{
	if (pid <= 0)
		return;
	if (rt->nreap == RT_MAX_REAP) {
		while (waitpid(rt->reap[0], NULL, 0) < 0 && errno == EINTR)
			;
		rt->reap[0] = rt->reap[--rt->nreap];
	}
	rt->reap[rt->nreap++] = pid;
}

/* Send one message; 0 or -errno. */
int
space_send(int sock, const struct msg *m)
{
	ssize_t n;

	do
		n = send(sock, m, sizeof(*m), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*m) ? 0 : -errno;
}

/* Receive one message; 0, or -EPIPE when the peer is gone. */
int
space_recv(int sock, struct msg *m)
{
	ssize_t n;

	do
		n = recv(sock, m, sizeof(*m), 0);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(*m))
		return 0;
	return n < 0 ? -errno : -EPIPE;
}

/*
 * In a freshly forked space: release the parent's children (their
 * sockets and memory), except c, whose resources this space adopts.
 */
static void
child_forget_siblings(const struct child *c)
{
	unsigned i;

	for (i = 0; i < DET_MAX_CHILDREN; i++) {
		struct child *o = &rt->child[i];

		if (o == c || o->state == SLOT_FREE)
			continue;
		if (o->stack == c->stack)
			o->stack = NULL;
		slot_release(o);
	}
}

/* Child side failure before fn runs: tell the parent, and leave. */
void
child_fail(int err)
{
	struct msg m = { .type = MSG_FAIL, .code = err };

	space_send(rt->parent_sock, &m);
	_exit(127);
}

/* Runs on the child's own stack (see child_start). */
static void
child_main(void)
{
	rt->fn(rt->arg);
	space_exit(0);
}

/*
 * Become a space: forget the parent's children and holders, adopt
 * sock/map/bitmap, start dirty tracking.  Returns only on success;
 * failures end the process through child_fail.
 */
void
space_become(unsigned child, const struct child *c, pid_t parent)
{
	char path[sizeof(rt->path)];
	int err;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (rt_getppid() != parent)
		_exit(127);
	holder_forget();
	output_forget_pool();
	child_forget_siblings(c);
	if (rt->parent_sock >= 0)
		close(rt->parent_sock);
	close(c->sock);
	if (output_redirect(c) < 0)
		_exit(127);
	close(c->out_fd);
	close(c->err_fd);
	rt->parent_sock = c->peer;
	/* A remote worker's child publishes to it, as any child does; the
	 * worker's lazy image was faulted in before the fork. */
	rt->worker_publish = NULL;
	rt->worker_barrier = NULL;
	rt->nlazy = 0;
	rt->depth++;
	rt->self = child;
	space_child_path(child, path, sizeof(path));
	rt_set_path(path);
	rt->map = c->map;
	rt->bitmap = c->bitmap;
	rt->bitmap_len = c->bitmap_len;
	rt->stack_lo = (uintptr_t)c->stack;
	rt->fresh.n = 0;
	rt->fresh.overflow = 0;
	if (c == &rt->child[child]) {
		memset(&rt->child[child], 0, sizeof(*c));
		rt->child[child].sock = rt->child[child].peer = -1;
		rt->child[child].holder = -1;
		rt->child[child].out_fd = rt->child[child].err_fd = -1;
	}
	memset(&rt->stats, 0, sizeof(rt->stats));
	err = rt->dirty->begin(rt->map, &rt->dirty_state);
	if (!err)
		err = sandbox_enter();
	if (err)
		child_fail(err);
	if (rt->child_start_hook)
		rt->child_start_hook(child);
}

/* The child process after fork: become a space, run fn on a new stack. */
static void __attribute__((noreturn))
child_start(unsigned child, const struct child *c, pid_t parent, det_fn fn,
	    void *arg)
{
	space_become(child, c, parent);
	rt->fn = fn;
	rt->arg = arg;
	getcontext(&rt->start_ctx);
	rt->start_ctx.uc_stack.ss_sp = (void *)rt->stack_lo;
	rt->start_ctx.uc_stack.ss_size = RT_STACK_SIZE;
	rt->start_ctx.uc_link = NULL;
	makecontext(&rt->start_ctx, child_main, 0);
	setcontext(&rt->start_ctx);
	child_fail(-errno);
}

/*
 * Get what a new child of the caller needs: its merged regions, the
 * shared dirty bitmap, a socket pair and its fn stack (reserved in the
 * parent so the address stays free for a replacement after a barrier).
 */
int
space_prepare(struct child *c)
{
	int sv[2], err;

	c->stack = rt_mmap(RT_STACK_SIZE, 0);
	if (!c->stack)
		return -ENOMEM;
	err = map_collect(&c->map);
	if (err)
		goto err_stack;
	c->bitmap_len = ((c->map->npages + 7) / 8 + 8) / 8 * 8 +
			sizeof(struct rt_rangeset);
	c->bitmap = rt_mmap(c->bitmap_len, 1);
	if (!c->bitmap) {
		err = -ENOMEM;
		goto err_map;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err = -errno;
		goto err_bitmap;
	}
	c->sock = sv[0];
	c->peer = sv[1];
	err = output_prepare(c);
	if (err) {
		close(sv[0]);
		close(sv[1]);
		c->sock = c->peer = -1;
		goto err_bitmap;
	}
	return 0;

err_bitmap:
	rt_munmap(c->bitmap, c->bitmap_len);
	c->bitmap = NULL;
err_map:
	map_free(c->map);
	c->map = NULL;
err_stack:
	rt_munmap(c->stack, RT_STACK_SIZE);
	c->stack = NULL;
	return err;
}

/* see kern.h */
int
space_fork(unsigned child, det_fn fn, void *arg)
{
	struct child *c;
	pid_t pid;
	int err;

	if (child >= DET_MAX_CHILDREN || !fn)
		return -EINVAL;
	c = &rt->child[child];
	if (c->state != SLOT_FREE)
		return -EINVAL;
	if (!space_backend() || sandbox_prepare())
		return -EINVAL;
	if (rt->nlazy)
		space_lazy_fill();
	space_reap(0);
	err = space_prepare(c);
	if (err)
		return err;
	err = holder_get(c);
	if (err) {
		close(c->peer);
		slot_release(c);
		return err;
	}
	perturb();
	trace(child, TR_FORK);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		err = (errno == EAGAIN || errno == ENOMEM) ? -ENOMEM : -errno;
		close(c->peer);
		slot_release(c);
		return err;
	}
	if (pid == 0)
		child_start(child, c, rt_getppid(), fn, arg);
	close(c->peer);
	c->peer = -1;
	c->pid = pid;
	c->state = SLOT_RUNNING;
	rt->stats.forks++;
	return 0;
}

/*
 * Try to make this space the only process mapping its pages: end every
 * holder of ours and reap everything that has ended.  Children still
 * running (never joined: their work is discarded) cannot be ended from
 * inside the sandbox; then 0, and the caller must over-report.
 */
static int
space_sole_owner(void)
{
	unsigned i;

	for (i = 0; i < DET_MAX_CHILDREN; i++)
		if (rt->child[i].state == SLOT_RUNNING)
			return 0;
	holder_end_all();
	return 1;
}

/*
 * Child side: collect the dirty pages into the shared bitmap and send
 * `type` to the parent, then wait for its answer (returned in *reply).
 */
int
space_publish(int type, int code, struct msg *reply)
{
	struct msg m = { .type = type, .code = code };
	unsigned i;
	long n;
	int err;

	fflush(stdout);
	fflush(stderr);
	memset(rt->bitmap, 0, rt->bitmap_len - sizeof(struct rt_rangeset));
	if (rt->dirty->needs_sole_owner && !space_sole_owner()) {
		/* Every page, to be safe: the merge compares bytes. */
		memset(rt->bitmap, 0xff, rt->map->npages / 8);
		for (n = (long)(rt->map->npages & ~7UL);
		     n < (long)rt->map->npages; n++)
			dirty_bit_set(rt->bitmap, (size_t)n);
		n = (long)rt->map->npages;
	} else {
		n = rt->dirty->collect(rt->map, rt->dirty_state, rt->bitmap);
	}
	*rt_fresh_area(rt->bitmap, rt->bitmap_len) = rt->fresh;
	m.nfresh = rt->fresh.n;
	if (rt->fresh.overflow) {
		m.type = MSG_FAIL;
		m.code = -ENOMEM;
	}
	if (n < 0) {
		m.type = MSG_FAIL;
		m.code = (int)n;
	} else {
		m.npages = (size_t)n;
	}
	m.stats = rt->stats;
	m.sp = (uintptr_t)__builtin_frame_address(0);
	for (i = 0; i < DET_MAX_CHILDREN; i++)
		m.running_children |= rt->child[i].state == SLOT_RUNNING;
	err = space_send(rt->parent_sock, &m);
	if (err)
		return err;
	return space_recv(rt->parent_sock, reply);
}

/* Child side: end this space for good (its own holders and unjoined
 * children die with it). */
void
child_leave(void)
{
	_exit(0);
}

/* see kern.h */
void
space_exit(int code)
{
	struct msg reply;

	if (rt->worker_publish)
		rt->worker_publish(code);	/* does not return */
	if (rt->depth == 0)
		exit(code);
	space_publish(MSG_DONE, code, &reply);
	child_leave();
}

/* "0.3" -> "0.3.k": the path of our child k. */
void
space_child_path(unsigned k, char *buf, size_t len)
{
	char tmp[sizeof(rt->path) + 16];

	snprintf(tmp, sizeof(tmp), "%s.%u", rt->path, k);
	snprintf(buf, len, "%.*s", (int)(sizeof(rt->path) - 1), tmp);
}

/*
 * Parent side: child called a refused system call (nr, or -1 when it
 * was refused with signals blocked).  Reap it, say so.  SPACE_EPOLICY.
 */
static int
join_policy(unsigned child, struct child *c, const struct space_opts *o,
	    struct det_status *st, long nr)
{
	char path[sizeof(rt->path)], name[64];

	space_reap_later(c->pid);
	st->syscall_nr = nr;
	if (o->quiet)
		return SPACE_EPOLICY;
	space_child_path(child, path, sizeof(path));
	if (nr < 0) {
		pr_report("det: child %u (space %s) was stopped by the sandbox "
			  "with signals blocked (typically while creating a "
			  "thread); the system call is not known", child,
			  path);
		return SPACE_EPOLICY;
	}
	sandbox_syscall_name(nr, name, sizeof(name));
	pr_report("child %u (space %s) called %s(2), which a child may not; "
		  "run with --allow %s to permit it", child, path, name, name);
	return SPACE_EPOLICY;
}

/*
 * Parent side: the child's socket closed without a message, so it died.
 * Reap it and describe how.  Returns SPACE_EFAULT.
 */
static int
join_dead(unsigned child, struct child *c, const struct space_opts *o,
	  struct det_status *st)
{
	char path[sizeof(rt->path)];
	int ws = 0;

	while (waitpid(c->pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(ws) && WTERMSIG(ws) == SIGSYS) {
		c->pid = 0;
		return join_policy(child, c, o, st, -1);
	}
	space_child_path(child, path, sizeof(path));
	if (WIFSIGNALED(ws)) {
		st->signal = WTERMSIG(ws);
		if (!o->quiet)
			pr_report("det: child %u (space %s) was killed by "
				  "signal %d (%s); nothing of it applied",
				  child, path, st->signal,
				  strsignal(st->signal));
	} else {
		st->exit_code = WEXITSTATUS(ws);
		if (!o->quiet)
			pr_report("det: child %u (space %s) called exit(%d) "
				  "instead of returning or det_exit; nothing "
				  "of it applied", child, path, st->exit_code);
	}
	return SPACE_EFAULT;
}

/* see kern.h */
int
space_join(unsigned child, const struct space_opts *o,
	   struct det_status *st, int sync)
{
	struct child *c;
	struct msg m, ack = { .type = MSG_ACK };
	uint64_t t0;
	int rc, err;

	if (child >= DET_MAX_CHILDREN)
		return -EINVAL;
	c = &rt->child[child];
	if (c->state != SLOT_RUNNING)
		return -ECHILD;
	perturb();
	trace(child, TR_JOIN_WAIT);
	for (;;) {
		err = space_recv(c->sock, &m);
		/* Files of a child that died, or that still has children of
		 * its own (they hold its fds), are not reused. */
		output_emit(c, !err && (m.type == MSG_DONE ||
					m.type == MSG_BARRIER) &&
			    !m.running_children);
		if (err) {
			rc = join_dead(child, c, o, st);
			slot_release(c);
			return rc;
		}
		if (m.type == MSG_POLICY) {
			rc = join_policy(child, c, o, st, m.code);
			slot_release(c);
			return rc;
		}
		if (m.type == MSG_FAIL) {
			st->sys_errno = -m.code;
			space_send(c->sock, &ack);
			waitpid(c->pid, NULL, 0);
			slot_release(c);
			return m.code;
		}
		t0 = rt_now_ns();
		trace(child, TR_MERGE);
		rc = merge_child(child, c, &m, o, st);
		rt->stats.merge_ns += rt_now_ns() - t0;
		rt->stats.pages_dirty += st->pages_dirty;
		rt->stats.bytes_merged += st->bytes_merged;
		rt->stats.conflicts += st->nconflicts;
		if (m.type == MSG_BARRIER) {
			err = space_resume(child, c, &m, rc);
			if (err)
				return err;
			if (sync)
				return rc;
			continue;
		}
		st->exit_code = m.code;
		ack.code = rc;
		space_send(c->sock, &ack);
		trace(child, TR_JOINED);
		/* The child's own joins count too (its descendants). */
		rt->stats.forks += m.stats.forks;
		rt->stats.joins += m.stats.joins;
		rt->stats.pages_dirty += m.stats.pages_dirty;
		rt->stats.bytes_merged += m.stats.bytes_merged;
		rt->stats.conflicts += m.stats.conflicts;
		rt->stats.merge_ns += m.stats.merge_ns;
		space_reap_later(c->pid);
		slot_release(c);
		rt->stats.joins++;
		return rc;
	}
}
