/*
 * remote_lazy.c -- lazy paging in the worker (detrun --lazy; see
 * net/PROTOCOL.md "Lazy paging"): fn starts as soon as the small parts
 * of the image are in place; the pages of the big anonymous ranges
 * arrive while it runs.
 *
 * kern (space_worker_lazy) empties those ranges and registers them for
 * missing-page faults on a userfaultfd.  A handler *process*, forked
 * from the worker before the sandbox, serves them: a fault becomes a
 * FAULT frame to the client (which sends that page and what follows it
 * at once, ahead of its background stream), and every page that arrives
 * (PAGES, PAGESZ, or a HASHES offer the node's cache or the zero page
 * satisfies) is placed with UFFDIO_COPY in write-protect mode, so it
 * reads as "not written by fn" to the dirty tracking.  A process, not a
 * thread: fn cannot reach its memory, and it needs no system call the
 * sandbox refuses.  It reads frames from the network, so it has a
 * seccomp filter of its own (kern's sandbox_pager: the calls serving
 * faults takes, nothing else); a refused call ends it and the worker,
 * saying which on the control page.  When fn ends, the worker asks the
 * handler to stop: it sends LAZY_END, reads until the client's LAZY_END
 * (dropping pages still in flight), leaves the frame counters on the
 * control page and exits; then the worker sends the dirty pages as
 * usual.  A worker that ends without asking (a refused call, a crash,
 * exit()) gets no LAZY_END sent: the handler leaves at the next frame
 * boundary, and detd, which waits for its end (the handler keeps the
 * worker's NET_WFD_POLICY open), sends OUTPUT and STATUS after its last
 * frame.  If the handler fails, it says why on the control page and
 * kills the worker (detd reports an error; the client re-runs fn
 * elsewhere).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <lz4.h>

#include "kern.h"
#include "net.h"
#include "net_worker.h"
#include "remote_int.h"

/* Page states in the handler. */
#define S_PLACED	1u	/* in place */
#define S_ZERO		2u	/* offered as the zero page: placed on fault */
#define S_ASKED		4u	/* FAULT sent, the page not here yet */
#define S_FILE		8u	/* offered by hash, lacking: file it in the
				   node's cache when it arrives */

/* Worker state (det_private: never merged, never part of the image). */
static struct {
	uintptr_t (*r)[2];	/* the lazy ranges (kern keeps a pointer) */
	size_t n;
	int uffd;		/* for the handler; -1: none */
	int sock;		/* to the handler while fn runs; -1: none */
	pid_t pid;
	/* In the handler: for its SIGSYS handler. */
	struct net_wctl_page *ctl;
	pid_t worker;
	int refuse;		/* DET_TEST_LAZY_REFUSE=1 or crash (tests
				   only): make one refused call, or crash,
				   once serving */
	volatile int *nowhere;	/* NULL */
} L DET_PRIVATE = { .uffd = -1, .sock = -1 };

/* The handler's state (its own process: plain memory). */
struct lz {
	struct net_conn *c;
	struct net_wctl_page *ctl;
	struct net_cache *cache;
	pid_t worker;
	uint8_t *state;		/* one byte per lazy page */
	uint8_t (*hash)[16];	/* per lazy page, when S_FILE */
	uint8_t *frame;		/* NET_MAX_FRAME */
	uint8_t *zbuf;		/* NET_MAX_PAGES pages */
	uint8_t *zero;		/* a zero page, then a scratch page */
	uint8_t zero_hash[16];
	int stopping;
};

/* see remote_int.h */
size_t
lazy_setup(const uint64_t (*reg)[2], uint32_t nreg, int devfd)
{
	uint32_t i;
	int fd;

	L.r = mmap(NULL, PAGE_UP(nreg * sizeof(L.r[0])),
		   PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (L.r == MAP_FAILED)
		return 0;
	space_exclude((uintptr_t)L.r,
		      (uintptr_t)L.r + PAGE_UP(nreg * sizeof(L.r[0])));
	for (i = 2, L.n = 0; i < nreg; i++, L.n++) {
		L.r[L.n][0] = reg[i][0];
		L.r[L.n][1] = reg[i][1];
	}
	fd = space_worker_lazy(devfd, L.r, &L.n);
	if (fd < 0) {
		L.n = 0;
		return 0;
	}
	L.uffd = fd;
	return L.n;
}

/* see remote_int.h */
const void *
lazy_ranges(void)
{
	return L.r;
}

/* Set when the worker died (PR_SET_PDEATHSIG): the handler leaves at
 * the next frame boundary -- a frame cut short, or one sent but not yet
 * counted on the control page, would derail detd's frames after it. */
static volatile sig_atomic_t lz_orphan;

static void
lz_on_term(int sig)
{
	(void)sig;
	lz_orphan = 1;
}

/* The handler ends because the worker ended or no longer needs it: say
 * so on the control page (detd takes an end without it for a handler
 * killed from outside), leave. */
static void __attribute__((noreturn))
lz_leave(void)
{
	if (L.ctl)
		L.ctl->pager_done = 1;
	_exit(0);
}

/* The handler cannot go on: say why, end the worker (detd reports an
 * error and the client runs fn elsewhere), leave. */
static void __attribute__((noreturn, format(printf, 2, 3)))
lz_fail(struct lz *z, const char *fmt, ...)
{
	va_list ap;

	if (lz_orphan)
		lz_leave();	/* the worker's end says how it ended */
	va_start(ap, fmt);
	vsnprintf(z->ctl->failed, sizeof(z->ctl->failed), fmt, ap);
	va_end(ap);
	space_worker_abort(z->worker);
	_exit(1);
}

/*
 * A fatal signal in the handler: SIGSYS, its filter refused a system
 * call (a bug, or code that came in with a frame), or a crash (SIGSEGV,
 * SIGBUS, SIGILL, SIGFPE, SIGABRT).  Say which on the control page
 * (without stdio: a signal handler), end the worker as lz_fail does
 * (detd reports the error, the client runs fn elsewhere), leave: a
 * handler that died silently would leave fn waiting on a page forever.
 */
static void
lz_on_fatal(int sig, siginfo_t *si, void *uc)
{
	static const char sys[] = "lazy paging: its sandbox refused system "
				  "call ";
	static const char die[] = "lazy paging: it died of signal ";
	const char *msg = sig == SIGSYS ? sys : die;
	size_t len = sig == SIGSYS ? sizeof(sys) - 1 : sizeof(die) - 1;
	char *p = L.ctl->failed;
	char num[12];
	int n = 0, nr = sig == SIGSYS ? si->si_syscall : sig;

	(void)uc;
	if (lz_orphan)
		lz_leave();
	memcpy(p, msg, len);
	p += len;
	do
		num[n++] = (char)('0' + nr % 10);
	while ((nr /= 10) > 0 && n < (int)sizeof(num));
	while (n > 0)
		*p++ = num[--n];
	*p = 0;
	space_worker_abort(L.worker);
	_exit(1);
}

/* The fds the handler serves from, at numbers fixed when its filter is
 * built (before the image replaces the worker's heap: libseccomp
 * allocates): its userfaultfd and its socket to the worker (the
 * connection is NET_WFD_SOCK). */
#define LZ_UFFD_FD	100
#define LZ_SOCK_FD	101

/* see remote_int.h */
int
lazy_prepare(int cache_fd)
{
	int socks[2] = { NET_WFD_SOCK, LZ_SOCK_FD };

	return space_worker_pager_prepare(LZ_UFFD_FD, cache_fd, socks, 2);
}

/* Put fd at number want, which must be free (or fd itself).  0 or
 * -errno. */
static int
lz_fd_at(int fd, int want)
{
	if (fd == want)
		return 0;
	if (fcntl(want, F_GETFD) >= 0)
		return -EBUSY;
	return dup2(fd, want) < 0 ? -errno : 0;
}

/* Enter the handler's own sandbox: its fds where the filter expects
 * them (*wsock: the socket to the worker, moved), its handler of fatal
 * signals, then the filter lazy_prepare built.  0 or -errno. */
static int
lz_sandbox(struct lz *z, int *wsock)
{
	static const int fatal[] = { SIGSYS, SIGSEGV, SIGBUS, SIGILL, SIGFPE,
				     SIGABRT };
	struct sigaction sa;
	sigset_t sys;
	size_t i;
	int err;

	if (*wsock == LZ_UFFD_FD)
		return -EBUSY;
	err = lz_fd_at(L.uffd, LZ_UFFD_FD);
	if (!err)
		err = lz_fd_at(*wsock, LZ_SOCK_FD);
	if (err)
		return err;
	L.uffd = LZ_UFFD_FD;
	*wsock = LZ_SOCK_FD;
	L.ctl = z->ctl;
	L.worker = z->worker;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = lz_on_fatal;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	sigemptyset(&sys);
	for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		if (sigaction(fatal[i], &sa, NULL) < 0 ||
		    sigaddset(&sys, fatal[i]) < 0)
			return -errno;
	if (sigprocmask(SIG_UNBLOCK, &sys, NULL) < 0)
		return -errno;
	return space_worker_pager_enter();
}

/* Index of the lazy page at a (page aligned), or -1. */
static long
lz_index(uint64_t a)
{
	size_t i;
	long base = 0;

	for (i = 0; i < L.n; i++) {
		if (a >= L.r[i][0] && a < L.r[i][1])
			return base + (long)((a - L.r[i][0]) / PAGE);
		base += (long)((L.r[i][1] - L.r[i][0]) / PAGE);
	}
	return -1;
}

/* Place n pages at a (all inside one lazy range) from src, write
 * protected; pages already there are left alone. */
static void
lz_place(struct lz *z, uint64_t a, const uint8_t *src, size_t n)
{
	long k = lz_index(a);
	size_t j = 0;
	int single = 0;

	while (j < n) {
		struct uffdio_copy cp = {
			.dst = a + j * PAGE,
			.src = (uintptr_t)(src + j * PAGE),
			.len = PAGE,
			.mode = UFFDIO_COPY_MODE_WP,
		};
		size_t m = 1;

		if (z->state[k + (long)j] & S_PLACED) {
			j++;
			continue;
		}
		/* The run of pages not yet placed, in one call. */
		while (!single && j + m < n &&
		       !(z->state[k + (long)(j + m)] & S_PLACED))
			m++;
		cp.len = m * PAGE;
		if (ioctl(L.uffd, UFFDIO_COPY, &cp) == 0) {
			m = (size_t)cp.copy / PAGE;
		} else if (errno == EAGAIN) {
			if (cp.copy <= 0)
				continue;
			m = (size_t)cp.copy / PAGE;	/* partly done */
		} else if (errno == ESRCH) {
			lz_leave();	/* the worker is gone */
		} else if (m > 1 && (errno == ENOENT || errno == EINVAL)) {
			/* fn split the mapping (mprotect, munmap): one
			 * page at a time. */
			single = 1;
			continue;
		} else if (errno == EEXIST || errno == ENOENT ||
			   errno == EINVAL) {
			m = 1;	/* there already, or fn unmapped it */
		} else {
			lz_fail(z, "lazy paging: cannot place a page at %#lx: "
				"%s", (unsigned long)cp.dst, strerror(errno));
		}
		while (m--) {
			z->state[k + (long)j] |= S_PLACED;
			j++;
		}
	}
}

/*
 * A fault on a page placed before: either the fault raced with placing
 * it (then it is there, and this only wakes the waiter), or fn dropped
 * the page since (MADV_DONTNEED, as a free may): then it reads as zero,
 * as anonymous memory does, and counts as written (as a dropped page
 * touched again does in an eager image).
 */
static void
lz_again(struct lz *z, uint64_t a)
{
	struct uffdio_copy cp = {
		.dst = a, .src = (uintptr_t)z->zero, .len = PAGE, .mode = 0,
	};
	struct uffdio_range wake = { a, PAGE };

	if (ioctl(L.uffd, UFFDIO_COPY, &cp) < 0)
		ioctl(L.uffd, UFFDIO_WAKE, &wake);
}

/* Serve the faults the kernel queued. */
static void
lz_faults(struct lz *z)
{
	struct uffd_msg msg[16];
	ssize_t r;
	int i, err;

	while ((r = read(L.uffd, msg, sizeof(msg))) > 0) {
		for (i = 0; i < (int)(r / (ssize_t)sizeof(msg[0])); i++) {
			uint64_t a = PAGE_DOWN(msg[i].arg.pagefault.address);
			long k = lz_index(a);

			if (msg[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			if (k < 0)
				lz_fail(z, "lazy paging: a fault outside the "
					"image (%#lx)", (unsigned long)a);
			if (z->state[k] & S_PLACED) {
				lz_again(z, a);
			} else if (z->state[k] & S_ZERO) {
				lz_place(z, a, z->zero, 1);
			} else if (!(z->state[k] & S_ASKED)) {
				z->state[k] |= S_ASKED;
				z->ctl->faults++;
				err = net_send(z->c, NET_FAULT, &a, 8);
				if (err)
					lz_fail(z, "lazy paging: %s",
						net_strerror(err));
			}
		}
	}
	if (r < 0 && errno != EAGAIN && errno != EINTR)
		lz_fail(z, "lazy paging: reading faults: %s", strerror(errno));
}

/* 1 when n pages at a lie inside one lazy range. */
static int
lz_inside(uint64_t a, uint64_t n)
{
	size_t i;

	for (i = 0; i < L.n; i++)
		if (a >= L.r[i][0] && a + n * PAGE <= L.r[i][1] &&
		    a + n * PAGE > a)
			return a % PAGE == 0;
	return 0;
}

/* HASHES while fn runs: zero pages are placed on fault, cached ones at
 * once; NEED lists the others.  After the stop: ignored. */
static void
lz_hashes(struct lz *z, const uint8_t *frame, uint32_t len)
{
	uint8_t need[8 + NET_MAX_HASHES / 8], *tmp = z->zero + PAGE;
	uint64_t a, k, j;
	long i0;
	int err;

	if (len < 8 + 16 || (len - 8) % 16)
		lz_fail(z, "lazy paging: malformed HASHES");
	memcpy(&a, frame, 8);
	k = (len - 8) / 16;
	if (!lz_inside(a, k))
		lz_fail(z, "lazy paging: HASHES outside the lazy image");
	if (z->stopping)
		return;
	i0 = lz_index(a);
	memcpy(need, &a, 8);
	memset(need + 8, 0, (k + 7) / 8);
	for (j = 0; j < k; j++) {
		const uint8_t *hh = frame + 8 + j * 16;
		uint8_t *st = &z->state[i0 + (long)j];

		if (*st & S_PLACED)
			continue;
		if (memcmp(hh, z->zero_hash, 16) == 0) {
			*st |= S_ZERO;
			z->ctl->pages_cached++;
			if (*st & S_ASKED)
				lz_place(z, a + j * PAGE, z->zero, 1);
		} else if (net_cache_get(z->cache, hh, tmp)) {
			lz_place(z, a + j * PAGE, tmp, 1);
			z->ctl->pages_cached++;
		} else {
			need[8 + j / 8] |= (uint8_t)(1u << (j % 8));
			if (z->hash) {
				*st |= S_FILE;
				memcpy(z->hash[i0 + (long)j], hh, 16);
			}
		}
	}
	err = net_send(z->c, NET_NEED, need, 8 + (k + 7) / 8);
	if (err)
		lz_fail(z, "lazy paging: %s", net_strerror(err));
}

/* n pages at a arrived (src): file those offered by hash in the node's
 * cache, as an eager worker files the pages it had to receive (the
 * content is the parent's, which the hash was taken of). */
static void
lz_file(struct lz *z, uint64_t a, const uint8_t *src, uint64_t n)
{
	long k = lz_index(a);
	uint64_t j;

	for (j = 0; j < n && z->hash; j++)
		if (z->state[k + (long)j] & S_FILE) {
			z->state[k + (long)j] &= (uint8_t)~S_FILE;
			net_cache_put(z->cache,
				      z->hash[k + (long)j], src + j * PAGE);
		}
}

/* One frame from the client: 1 when it was its LAZY_END, else 0. */
static int
lz_frame(struct lz *z)
{
	struct net_hdr h;
	uint64_t a, n;
	int err, d;

	err = net_recv_hdr(z->c, &h);
	if (!err && h.len > NET_MAX_FRAME)
		err = -EMSGSIZE;
	if (!err)
		err = net_recv_body(z->c, z->frame, h.len);
	if (err)
		lz_fail(z, "lazy paging: %s", net_strerror(err));
	switch (h.type) {
	case NET_PAGES:
		if (h.len < 8 + PAGE || (h.len - 8) % PAGE)
			break;
		memcpy(&a, z->frame, 8);
		n = (h.len - 8) / PAGE;
		if (!lz_inside(a, n))
			break;
		z->ctl->pages_sent += n;
		z->ctl->pages_lazy += n;
		if (!z->stopping)
			lz_place(z, a, z->frame + 8, n);
		lz_file(z, a, z->frame + 8, n);
		return 0;
	case NET_PAGESZ:
		if (h.len < 16)
			break;
		memcpy(&a, z->frame, 8);
		memcpy(&n, z->frame + 8, 8);
		if (n == 0 || n > NET_MAX_PAGES || !lz_inside(a, n))
			break;
		d = LZ4_decompress_safe((const char *)z->frame + 16,
					(char *)z->zbuf, (int)(h.len - 16),
					(int)(n * PAGE));
		if (d != (int)(n * PAGE))
			break;
		z->ctl->pages_sent += n;
		z->ctl->pages_lz4 += n;
		z->ctl->pages_lazy += n;
		if (!z->stopping)
			lz_place(z, a, z->zbuf, n);
		lz_file(z, a, z->zbuf, n);
		return 0;
	case NET_HASHES:
		lz_hashes(z, z->frame, h.len);
		return 0;
	case NET_LAZY_END:
		if (z->stopping)
			return 1;
		break;
	default:
		break;
	}
	lz_fail(z, "lazy paging: unexpected or malformed frame %u", h.type);
}

/* The handler process: serve faults and pages until the worker says
 * stop (a message on sock, or its end) and the client has confirmed. */
static void __attribute__((noreturn))
lz_serve(struct lz *z, int sock)
{
	struct pollfd p[3] = {
		{ .fd = L.uffd, .events = POLLIN },
		{ .fd = z->c->fd, .events = POLLIN },
		{ .fd = sock, .events = POLLIN },
	};
	int err;

	if (L.refuse == 1)	/* a call the filter refuses (tests) */
		syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	if (L.refuse == 2)	/* a crash (tests): a write to NULL */
		*L.nowhere = 0;
	for (;;) {
		if (lz_orphan)
			lz_leave();
		if (poll(p, z->stopping ? 2 : 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			lz_fail(z, "lazy paging: poll: %s", strerror(errno));
		}
		if (p[0].revents)
			lz_faults(z);
		if (p[1].revents && lz_frame(z))
			break;
		if (!z->stopping && p[2].revents) {
			char msg[4];

			/* Take the message: unread, it would reset the
			 * socket before our answer is read.  No "stop" but
			 * its end: the worker ended without asking (fn hit
			 * the sandbox, crashed, called exit()); it sends
			 * no DIRTY or END, so no LAZY_END either: leave
			 * (detd waits for that before its own frames). */
			if (recv(sock, msg, sizeof(msg), MSG_DONTWAIT) != 4 ||
			    memcmp(msg, "stop", 4) != 0)
				lz_leave();
			z->stopping = 1;
			err = net_send(z->c, NET_LAZY_END, NULL, 0);
			if (err)
				lz_fail(z, "lazy paging: %s",
					net_strerror(err));
		}
	}
	z->ctl->rx_seq = z->c->rx_seq;
	z->ctl->pager_done = 1;
	send(sock, "done", 4, MSG_NOSIGNAL);
	_exit(0);
}

/* see remote_int.h */
int
lazy_start(struct net_conn *c, struct net_wctl_page *ctl,
	   struct net_cache *cache, uint8_t *frame)
{
	struct lz z = { .c = c, .ctl = ctl, .cache = cache, .frame = frame };
	size_t i, npages = 0;
	struct ucred cr;
	struct sigaction sa;
	socklen_t crlen = sizeof(cr);
	const char *v;
	int sv[2], err;

	if (L.uffd < 0 || !L.n)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	L.pid = fork();
	if (L.pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (L.pid > 0) {
		close(sv[1]);
		close(L.uffd);	/* kern tracks with its own copy */
		L.uffd = -1;
		L.sock = sv[0];
		ctl->pager_pid = L.pid;	/* detd watches it */
		return 0;
	}
	/* The handler: ends with the worker (whose real pid the socket
	 * knows: getpid is virtual in a det program); detd writes again
	 * only when it has ended (it holds the worker's NET_WFD_POLICY). */
	close(sv[0]);
	L.ctl = ctl;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = lz_on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0)
		_exit(1);
	z.worker = cr.pid;
	for (i = 0; i < L.n; i++)
		npages += (L.r[i][1] - L.r[i][0]) / PAGE;
	z.state = mmap(NULL, npages, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	z.zbuf = mmap(NULL, NET_MAX_PAGES * PAGE + 2 * PAGE,
		      PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	if (cache->slots) {
		z.hash = mmap(NULL, npages * 16, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (z.hash == MAP_FAILED)
			z.hash = NULL;	/* just not cached */
	}
	if (z.state == MAP_FAILED || z.zbuf == MAP_FAILED)
		lz_fail(&z, "lazy paging: out of memory");
	z.zero = z.zbuf + NET_MAX_PAGES * PAGE;
	net_page_hash(z.zero, z.zero_hash);
	v = getenv("DET_TEST_LAZY_REFUSE");
	L.refuse = !v ? 0 : strcmp(v, "1") == 0 ? 1 :
		   strcmp(v, "crash") == 0 ? 2 : 0;
	err = lz_sandbox(&z, &sv[1]);
	if (err)
		lz_fail(&z, "lazy paging: cannot enter its sandbox: %s",
			strerror(-err));
	/* Not before the worker registered the ranges: placing a page
	 * there earlier fails (and the page would stay missing). */
	if (recv(sv[1], z.frame, 4, 0) != 2)
		lz_leave();	/* the worker could not begin */
	lz_serve(&z, sv[1]);
}

/* see remote_int.h */
void
lazy_go(void)
{
	if (L.sock >= 0)
		send(L.sock, "go", 2, MSG_NOSIGNAL);
}

/* see remote_int.h */
void
lazy_touch(uintptr_t lo, uintptr_t hi)
{
	volatile const char *p;
	uintptr_t a, b;
	size_t i;

	if (L.sock < 0)
		return;
	for (i = 0; i < L.n; i++) {
		a = lo > L.r[i][0] ? PAGE_DOWN(lo) : L.r[i][0];
		b = hi < L.r[i][1] ? hi : L.r[i][1];
		for (; a < b; a += PAGE) {
			p = (volatile const char *)a;
			(void)*p;
		}
	}
}

/* see remote_int.h */
int
lazy_stop(struct net_conn *c, const struct net_wctl_page *ctl)
{
	char buf[4];
	ssize_t n;

	if (L.sock < 0)
		return 0;
	if (send(L.sock, "stop", 4, MSG_NOSIGNAL) != 4)
		return -errno;
	do
		n = recv(L.sock, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	close(L.sock);
	L.sock = -1;
	if (n != 4)
		return -EPIPE;
	c->tx_seq = ctl->tx_seq;
	c->rx_seq = ctl->rx_seq;
	return 0;
}
