/*
 * detd -- the det node daemon: runs remote children (det_fork_on).
 *
 *   detd --listen ADDR:PORT --key FILE     serve (loopback by default)
 *   detd --keygen FILE                     write a new key (mode 0600)
 *
 * One process per connection, so a hostile or broken client only ever
 * closes its own connection.  A connection authenticates (net_auth.c),
 * then either PINGs or asks to SPAWN a worker: the same executable and
 * libraries as the client's (hashes checked), on a CPU with the same
 * features.  The worker is that program, exec'd with address-space
 * randomisation off, as an unprivileged user when detd runs as root,
 * under memory/CPU limits; libdet in it takes the connection over
 * before main (user/lib/remote.c): it receives the memory image, runs
 * the child's function under the sandbox and sends the dirty pages
 * back.  The connection process then sends the worker's output and how
 * it ended (NET_STATUS).  Logs: one line per event on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "net_worker.h"

#define DEFAULT_LISTEN	"127.0.0.1:7677"
#define MAX_CONNS	64
/* How long the worker's processes may take to close their end of its
 * report socket after it ended without "done" (wait_worker_gone). */
#define WORKER_GONE_MS	5000

enum { L_ERROR, L_WARN, L_INFO, L_DEBUG };

static struct {
	int level;
	int auth_ms;		/* handshake deadline */
	long mem_mb;		/* worker RLIMIT_DATA, 0: none */
	long cpu_s;		/* worker RLIMIT_CPU, 0: none */
	const char *user;	/* worker user when root */
	long cache_mb;		/* page cache size, 0: none */
	int cache_fd;		/* the page cache file, or -1 */
	uint8_t key[NET_KEY_LEN];
	char peer[80];		/* in a connection process */
} D = { .level = L_INFO, .auth_ms = 5000, .mem_mb = 0, .cpu_s = 3600,
	.user = "nobody", .cache_mb = 1024, .cache_fd = -1 };

/* One line on stderr: "detd[pid]: level: [peer] text". */
static void __attribute__((format(printf, 2, 3)))
dlog(int level, const char *fmt, ...)
{
	static const char *name[] = { "error", "warn", "info", "debug" };
	char buf[512];
	va_list ap;

	if (level > D.level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "detd[%d]: %s: %s%s%s\n", (int)getpid(), name[level],
		D.peer, D.peer[0] ? ": " : "", buf);
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: detd [options] --key FILE      serve remote det children\n"
"       detd --keygen FILE             write a new random key (mode 0600)\n"
"\n"
"  --listen ADDR:PORT  address to listen on (default " DEFAULT_LISTEN ");\n"
"                      [v6addr]:port for IPv6, 0.0.0.0:PORT for all,\n"
"                      port 0 for any free one (logged)\n"
"  --key FILE          the shared key (32 bytes, mode 0600): clients\n"
"                      must prove they have it (detrun --key)\n"
"  --mem-limit MIB     workers' data-memory limit (RLIMIT_DATA)\n"
"  --cpu-limit SEC     workers' CPU-time limit (default 3600)\n"
"  --cache MIB         page cache shared by the workers (default 1024;\n"
"                      0: none): pages a client's image shares with an\n"
"                      earlier one are not sent again\n"
"  --user NAME         run workers as NAME when started as root\n"
"                      (default nobody)\n"
"  --auth-timeout MS   handshake deadline per connection (default 5000)\n"
"  -v, --verbose       also debug lines;  -q, --quiet: errors and\n"
"                      warnings only\n"
"  --help\n"
"Logs go to stderr, one line per event.  See net/PROTOCOL.md.\n");
}

/* A positive number flag; exits 2 with one line when bad. */
static long
num_arg(const char *flag, const char *v)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || end == v || n <= 0) {
		fprintf(stderr, "detd: %s %s: expected a positive number\n",
			flag, v);
		exit(2);
	}
	return n;
}

/* Collect ended connection processes. */
static int
reap(void)
{
	int n = 0;

	while (waitpid(-1, NULL, WNOHANG) > 0)
		n++;
	return n;
}

/* The client's address as text, for the logs. */
static void
peer_name(const struct sockaddr_storage *ss)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		port = ntohs(s->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		port = ntohs(s->sin6_port);
	}
	snprintf(D.peer, sizeof(D.peer), "%s:%u", a, port);
}

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Refuse: one ERROR frame to the client, one log line. */
static void
refuse(struct net_conn *c, const char *why)
{
	size_t n = strlen(why);

	dlog(L_WARN, "refused: %s", why);
	net_send(c, NET_ERROR, why, n < NET_MAX_TEXT ? n : NET_MAX_TEXT);
}

/* In the worker, before exec: limits, user, no ASLR.  0 or -errno. */
static int
worker_confine(void)
{
	struct rlimit rl;
	struct passwd *pw;

	if (D.mem_mb) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)D.mem_mb << 20;
		if (setrlimit(RLIMIT_DATA, &rl) < 0)
			return -errno;
	}
	if (D.cpu_s) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)D.cpu_s;
		if (setrlimit(RLIMIT_CPU, &rl) < 0)
			return -errno;
	}
	rl.rlim_cur = rl.rlim_max = 0;
	setrlimit(RLIMIT_CORE, &rl);
	if (personality(ADDR_NO_RANDOMIZE) < 0)
		return -errno;
	if (geteuid() == 0) {
		pw = getpwnam(D.user);
		if (!pw)
			return -ESRCH;
		if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
		    setuid(pw->pw_uid) < 0)
			return -errno;
	}
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
}

/* Put fd at number want (not close-on-exec); 0 or -errno. */
static int
fd_at(int fd, int want)
{
	if (fd == want)
		return fcntl(fd, F_SETFD, 0) < 0 ? -errno : 0;
	return dup2(fd, want) < 0 ? -errno : 0;
}

/* 1 when paths a and b name the same file. */
static int
same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return 0;
	errno = 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * In the forked worker: arrange its fds (net_worker.h), confine it, exec
 * the program in the client's directory, by the path the client was
 * exec'd with, with its argv and environment unchanged (the same
 * initial stack layout; libdet recognises a worker by its control fd).
 * Never returns; on failure it records why in ctl.
 */
static void __attribute__((noreturn))
worker_exec(struct net_conn *c, struct net_spawn *s, struct net_wctl *ctl,
	    int out, int err, int pol, pid_t parent)
{
	static const char *envp[NET_MAX_ARGS + 1];
	uint32_t i, n = 0;
	int devnull, e, sock, cfd, cache, uffd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* First out of the way of the numbers they go to (fd_at would
	 * otherwise overwrite one source with another). */
	devnull = open("/dev/null", O_RDONLY);
	devnull = fcntl(devnull, F_DUPFD_CLOEXEC, 16);
	out = fcntl(out, F_DUPFD_CLOEXEC, 16);
	err = fcntl(err, F_DUPFD_CLOEXEC, 16);
	sock = fcntl(c->fd, F_DUPFD_CLOEXEC, 16);
	pol = fcntl(pol, F_DUPFD_CLOEXEC, 16);
	cfd = fcntl(ctl->fd, F_DUPFD_CLOEXEC, 16);
	cache = D.cache_fd >= 0 ? fcntl(D.cache_fd, F_DUPFD_CLOEXEC, 16) : -1;
	/* Lazy paging: a userfaultfd that also serves faults inside system
	 * calls needs privilege, checked when this device is opened; the
	 * worker makes its own from it after giving the privilege up. */
	uffd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (uffd >= 0)
		uffd = fcntl(uffd, F_DUPFD_CLOEXEC, 16);
	if (devnull < 0 || out < 0 || err < 0 || sock < 0 || pol < 0 ||
	    cfd < 0 || fd_at(devnull, 0) || fd_at(out, 1) ||
	    fd_at(err, 2) || fd_at(sock, NET_WFD_SOCK) ||
	    fd_at(pol, NET_WFD_POLICY) || fd_at(cfd, NET_WFD_CTL) ||
	    (cache >= 0 && fd_at(cache, NET_WFD_CACHE)) ||
	    (uffd >= 0 && fd_at(uffd, NET_WFD_UFFD))) {
		ctl->shared->exec_errno = errno;
		_exit(127);
	}
	e = worker_confine();
	if (e) {
		ctl->shared->exec_errno = -e;
		_exit(127);
	}
	/* Again: changing the user cleared it.  The worker dies with its
	 * connection process (and so with detd). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	for (i = 0; i < s->envc; i++)
		envp[n++] = s->envp[i];
	envp[n] = NULL;
	s->argv[s->argc] = NULL;
	if (chdir(s->cwd) < 0 || !same_file(s->execfn, s->exe)) {
		ctl->shared->exec_errno = errno ? errno : ESTALE;
		_exit(127);
	}
	execve(s->execfn, (char *const *)s->argv, (char *const *)envp);
	ctl->shared->exec_errno = errno;
	_exit(127);
}

/* Send the worker's captured output (fd 1 or 2) in OUTPUT frames. */
static int
send_output(struct net_conn *c, int fd, uint32_t which)
{
	static uint8_t buf[NET_MAX_PAGES * NET_PAGE];
	struct iovec v[2] = { { &which, 4 }, { buf, 0 } };
	off_t off = 0;
	ssize_t n;
	int err;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		v[1].iov_len = (size_t)n;
		err = net_sendv(c, NET_OUTPUT, v, 2);
		if (err)
			return err;
		off += n;
	}
	return n < 0 ? -errno : 0;
}

/* After the last frame: let the client read it before the connection
 * closes.  Closing with unread bytes (pages a lazy client still sent)
 * would reset it and could lose the result; so end our side, then read
 * until the client closes (at most 2 s). */
static void
drain_close(int fd)
{
	static char junk[65536];
	struct pollfd p = { .fd = fd, .events = POLLIN };

	shutdown(fd, SHUT_WR);
	while (poll(&p, 1, 2000) == 1 && read(fd, junk, sizeof(junk)) > 0)
		;
}

/* NET_STATUS: kind, code, text (net_worker.h). */
static int
send_status(struct net_conn *c, uint32_t kind, int32_t code,
	    const char *text)
{
	size_t n = strlen(text);
	struct iovec v[3] = { { &kind, 4 }, { &code, 4 },
			      { (void *)text, n < NET_MAX_TEXT ? n :
				NET_MAX_TEXT } };

	return net_sendv(c, NET_STATUS, v, 3);
}

/* 1 when the worker has ended (not reaped: waitpid still reports how). */
static int
worker_exited(pid_t worker)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_PID, (id_t)worker, &si,
		      WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == worker;
}

/*
 * Wait for the worker's first word on sock (net_worker_policy_nr's
 * result).  Meanwhile, a lazy pager (its pid on the control page) that
 * ended without finishing (killed from outside: its own failures end
 * the worker themselves) leaves the child waiting on a page that never
 * comes: end the worker, saying why; the client re-runs the child.
 */
static long
wait_worker(int sock, pid_t worker, struct net_wctl_page *ctl)
{
	struct pollfd p[2] = { { .fd = sock, .events = POLLIN },
			       { .fd = -1, .events = POLLIN } };
	int pager = 0, r;

	for (;;) {
		if (!pager && ctl->pager_pid > 0) {
			pager = ctl->pager_pid;
			p[1].fd = (int)syscall(SYS_pidfd_open, pager, 0);
		}
		r = poll(p, 2, 200);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		if (p[0].revents)
			break;
		if (p[1].revents && !ctl->pager_done &&
		    !worker_exited(worker)) {
			if (!ctl->failed[0])
				snprintf(ctl->failed, sizeof(ctl->failed),
					 "lazy paging: its handler died");
			kill(worker, SIGKILL);
			break;
		}
		if (p[1].revents) {	/* nothing more to watch */
			close(p[1].fd);
			p[1].fd = -1;
		}
	}
	if (p[1].fd >= 0)
		close(p[1].fd);
	return net_worker_policy_nr(sock);
}

/*
 * The worker ended without "done" (a refused call, a crash, exit()):
 * wait until sock reads end of file, i.e. every process that holds the
 * worker's end of it has ended -- the worker, and its lazy pager, which
 * keeps it open for this: until its end it may still send a frame on
 * the connection (FAULT, NEED), numbered from the control page.  Only
 * then are the frame counters there final, and detd's own frames may
 * follow (net/PROTOCOL.md, "Lazy paging").  Later words are dropped.
 * 0, or -ETIMEDOUT after WORKER_GONE_MS (logged by the caller).
 */
static int
wait_worker_gone(int sock)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	uint64_t end = mono_ns() + WORKER_GONE_MS * 1000000ull, now;
	char junk[64];
	ssize_t n;
	int r;

	for (;;) {
		now = mono_ns();
		if (now >= end)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)((end - now) / 1000000) + 1);
		if (r < 0 && errno != EINTR)
			return 0;	/* cannot tell: as before */
		if (r <= 0)
			continue;
		n = recv(sock, junk, sizeof(junk), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return 0;
	}
}

/*
 * Run one worker for the authenticated connection c, whose SPAWN was
 * checked: fork + exec it, wait for it, then send its output and how it
 * ended.  0 or -errno (already logged).
 */
static int
run_worker(struct net_conn *c, struct net_spawn *s)
{
	struct net_wctl ctl;
	int out = -1, err = -1, pol[2] = { -1, -1 }, ws = 0, e;
	uint32_t kind = NET_ST_EXIT;
	int32_t code = 0;
	uint64_t t0, t1;
	pid_t pid, me;
	uint32_t flags = D.cache_fd >= 0 ? NET_OK_CACHE : 0;
	long nr;
	char text[NET_MAX_TEXT] = "";

	e = net_wctl_create(&ctl);
	if (e)
		goto err_log;
	out = memfd_create("det-out", MFD_CLOEXEC);
	err = memfd_create("det-err", MFD_CLOEXEC);
	if (out < 0 || err < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pol) < 0) {
		e = -errno;
		goto err_close;
	}
	e = net_send(c, NET_SPAWN_OK, &flags, sizeof(flags));
	if (e)
		goto err_close;
	ctl.shared->tx_seq = c->tx_seq;
	ctl.shared->rx_seq = c->rx_seq;
	net_wctl_keys_put(ctl.shared, c);
	me = getpid();
	t0 = mono_ns();		/* before the worker can read its clock */
	pid = fork();
	if (pid < 0) {
		e = -errno;
		goto err_close;
	}
	if (pid == 0)
		worker_exec(c, s, &ctl, out, err, pol[1], me);
	close(pol[1]);
	pol[1] = -1;
	dlog(L_INFO, "worker %d runs %s", (int)pid, s->exe);
	/* The worker's first word: done (then it need not have exited),
	 * a refused system call, or nothing (it died). */
	nr = wait_worker(pol[0], pid, ctl.shared);
	t1 = mono_ns();
	if (nr != -2) {
		if (wait_worker_gone(pol[0]))
			dlog(L_WARN, "worker %d: its processes did not end "
			     "within %d ms; the result may not reach the "
			     "client", (int)pid, WORKER_GONE_MS);
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
	}
	c->tx_seq = ctl.shared->tx_seq;
	if (ctl.shared->exec_errno) {
		kind = NET_ST_ERROR;
		snprintf(text, sizeof(text), "cannot run %s on the node: %s",
			 s->exe, strerror(ctl.shared->exec_errno));
	} else if (ctl.shared->failed[0]) {
		kind = NET_ST_ERROR;
		snprintf(text, sizeof(text), "%.*s", (int)sizeof(text) - 1,
			 ctl.shared->failed);
	} else if (ctl.shared->done) {
		code = ctl.shared->code;
	} else if (nr >= 0 || (WIFSIGNALED(ws) && WTERMSIG(ws) == SIGSYS)) {
		kind = NET_ST_POLICY;	/* code: the call, or -1 */
		code = (int32_t)nr;
	} else if (WIFSIGNALED(ws)) {
		kind = NET_ST_SIGNAL;
		code = WTERMSIG(ws);
	} else {
		kind = NET_ST_RAWEXIT;
		code = WEXITSTATUS(ws);
	}
	dlog(L_INFO, "worker %d ended: %s %d%s%s (image: %llu pages "
	     "received, %llu lz4, %llu from the cache, %llu lazily on %llu "
	     "faults; %llu pages back)",
	     (int)pid, net_status_name(kind), code, text[0] ? ": " : "", text,
	     (unsigned long long)ctl.shared->pages_sent,
	     (unsigned long long)ctl.shared->pages_lz4,
	     (unsigned long long)ctl.shared->pages_cached,
	     (unsigned long long)ctl.shared->pages_lazy,
	     (unsigned long long)ctl.shared->faults,
	     (unsigned long long)ctl.shared->pages_dirty);
	e = send_output(c, out, 1);
	if (!e)
		e = send_output(c, err, 2);
	if (!e)
		e = send_status(c, kind, code, text);
	if (e)
		dlog(L_WARN, "cannot send the result: %s", strerror(-e));
	else
		drain_close(c->fd);
	if (ctl.shared->t_image)
		dlog(L_DEBUG, "worker %d: started %.1f ms, image in place "
		     "%.1f ms, done %.1f ms, result sent %.1f ms after its "
		     "fork", (int)pid, (ctl.shared->t_main - t0) / 1e6,
		     (ctl.shared->t_image - t0) / 1e6, (t1 - t0) / 1e6,
		     (mono_ns() - t0) / 1e6);
	/* A worker that said it is done still files pages in the cache
	 * and tears its memory down: let it finish. */
	if (nr == -2)
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
	close(pol[0]);
	close(out);
	close(err);
	net_wctl_destroy(&ctl);
	return e;

err_close:
	if (pol[0] >= 0) {
		close(pol[0]);
		close(pol[1]);
	}
	if (out >= 0)
		close(out);
	if (err >= 0)
		close(err);
	net_wctl_destroy(&ctl);
err_log:
	dlog(L_ERROR, "cannot start a worker: %s", strerror(-e));
	send_status(c, NET_ST_ERROR, 0, "the node cannot start a worker");
	return e;
}

/* A SPAWN request: decode, check against this node, run.  0/-errno. */
static int
serve_spawn(struct net_conn *c, uint32_t len)
{
	static uint8_t buf[NET_MAX_SPAWN];
	static struct net_spawn s;
	char why[NET_MAX_TEXT];
	int e;

	e = net_recv_body(c, buf, len);
	if (e)
		return e;
	e = net_spawn_decode(buf, len, &s);
	if (e) {
		dlog(L_WARN, "malformed SPAWN request (%s); closing",
		     strerror(-e));
		return e;
	}
	e = net_spawn_check(&s, why, sizeof(why));
	if (e) {
		refuse(c, why);
		return e;
	}
	return run_worker(c, &s);
}

/* One connection, in its own process.  Exit status: 0 served, 1 not. */
static int
serve(int fd)
{
	struct net_conn c = { .fd = fd, .timeout_ms = D.auth_ms };
	uint8_t ping[64];
	struct net_hdr h;
	int e;

	/* A connection closed before its first byte is a probe (a health
	 * check, a port scan): not worth a warning. */
	e = net_read_peek(fd, D.auth_ms);
	if (e == -EPIPE) {
		dlog(L_DEBUG, "closed before the handshake");
		return 0;
	}
	e = net_auth_server(&c, D.key);
	if (e == -EACCES) {
		dlog(L_WARN, "authentication failed (wrong key); closing");
		return 1;
	}
	if (e == -EPROTONOSUPPORT) {
		dlog(L_WARN, "handshake failed: the client speaks protocol "
		     "version %u, this detd %d (another build of det); "
		     "closing", c.peer_version, NET_VERSION);
		return 1;
	}
	if (e) {
		dlog(L_WARN, "handshake failed: %s; closing",
		     net_strerror(e));
		return 1;
	}
	dlog(L_DEBUG, "authenticated (frame tags: %s)",
	     c.k.kind == NET_TAG_AESGCM ? "AES-GCM" : "Poly1305");
	c.timeout_ms = 0;	/* a client may hold a connection open */
	for (;;) {
		e = net_recv_hdr(&c, &h);
		if (e == -EPIPE)
			return 0;
		if (e) {
			dlog(L_WARN, "bad frame: %s; closing",
			     net_strerror(e));
			return 1;
		}
		if (h.type == NET_PING) {
			e = net_recv_body(&c, ping, h.len);
			if (e) {
				dlog(L_WARN, "bad frame: %s; closing",
				     net_strerror(e));
				return 1;
			}
			e = net_send(&c, NET_PONG, ping, h.len);
		} else if (h.type == NET_SPAWN) {
			return serve_spawn(&c, h.len) ? 1 : 0;
		} else {
			dlog(L_WARN, "unexpected frame type %u; closing",
			     h.type);
			return 1;
		}
		if (e) {
			dlog(L_WARN, "connection lost: %s", net_strerror(e));
			return 1;
		}
	}
}

/* A client that vanishes (a cut link) ends its connection -- and its
 * worker -- within about a minute instead of TCP's quarter hour. */
static void
conn_timeouts(int fd)
{
	int one = 1, idle = 10, cnt = 3;
	unsigned tmo = 60000;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &tmo, sizeof(tmo));
}

/* Accept forever; each connection gets a process. */
static int
serve_forever(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, conns = 0;
	pid_t pid;

	for (;;) {
		conns -= reap();
		sl = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				dlog(L_ERROR, "accept: %s", strerror(errno));
			continue;
		}
		conns -= reap();
		if (conns >= MAX_CONNS) {
			dlog(L_WARN, "%d connections open; refusing one",
			     conns);
			close(fd);
			continue;
		}
		pid = fork();
		if (pid < 0) {
			dlog(L_ERROR, "fork: %s", strerror(errno));
			close(fd);
			continue;
		}
		if (pid == 0) {
			close(lfd);
			conn_timeouts(fd);
			peer_name(&ss);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			_exit(serve(fd));
		}
		conns++;
		close(fd);
	}
}

/* SIGCHLD must not be ignored (we wait for workers) but must interrupt
 * accept so ended connections are counted promptly. */
static void
on_chld(int sig)
{
	(void)sig;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "key", required_argument, NULL, 'k' },
		{ "keygen", required_argument, NULL, 'g' },
		{ "mem-limit", required_argument, NULL, 'm' },
		{ "cpu-limit", required_argument, NULL, 'c' },
		{ "user", required_argument, NULL, 'u' },
		{ "cache", required_argument, NULL, 'C' },
		{ "auth-timeout", required_argument, NULL, 'a' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_at = DEFAULT_LISTEN, *keyf = NULL, *gen = NULL;
	struct sigaction sa = { .sa_handler = on_chld };
	int o, e, lfd;

	opterr = 0;
	while ((o = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
		switch (o) {
		case 'l': listen_at = optarg; break;
		case 'k': keyf = optarg; break;
		case 'g': gen = optarg; break;
		case 'm': D.mem_mb = num_arg("--mem-limit", optarg); break;
		case 'c': D.cpu_s = num_arg("--cpu-limit", optarg); break;
		case 'u': D.user = optarg; break;
		case 'C':
			D.cache_mb = strcmp(optarg, "0") == 0 ? 0 :
				     num_arg("--cache", optarg);
			break;
		case 'a': D.auth_ms = (int)num_arg("--auth-timeout", optarg);
			break;
		case 'v': D.level = L_DEBUG; break;
		case 'q': D.level = L_WARN; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "detd: unknown or incomplete option "
				"'%s'; see detd --help\n", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "detd: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (gen) {
		e = net_key_gen(gen);
		if (e) {
			fprintf(stderr, "detd: --keygen %s: %s\n", gen,
				strerror(-e));
			return 1;
		}
		return 0;
	}
	if (!keyf) {
		fprintf(stderr, "detd: --key FILE is required (make one with "
			"detd --keygen FILE)\n");
		return 2;
	}
	e = net_key_load(keyf, D.key);
	if (e) {
		fprintf(stderr, "detd: --key %s: %s\n", keyf,
			e == -EPERM ? "readable by group or others; chmod 600 "
			"it" : e == -EINVAL ? "not a key (32 bytes, made by "
			"detd --keygen)" : strerror(-e));
		return 2;
	}
	lfd = net_listen(listen_at);
	if (lfd < 0) {
		fprintf(stderr, "detd: --listen %s: %s\n", listen_at,
			lfd == -EINVAL ? "expected ADDR:PORT" :
			strerror(-lfd));
		return 2;
	}
	if (D.cache_mb) {
		D.cache_fd = net_cache_create((size_t)D.cache_mb << 20);
		if (D.cache_fd < 0) {
			fprintf(stderr, "detd: --cache %ld: %s\n", D.cache_mb,
				strerror(-D.cache_fd));
			return 2;
		}
	}
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stderr, NULL, _IOLBF, 0);
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		/* The real port (--listen ADDR:0 lets the kernel choose). */
		char me[sizeof(D.peer)];

		if (getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0) {
			peer_name(&ss);
			memcpy(me, D.peer, sizeof(me));
			D.peer[0] = 0;
			dlog(L_INFO, "listening on %s", me);
		}
	}
	return serve_forever(lfd);
}
