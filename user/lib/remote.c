/*
 * remote.c -- det_fork_on to another machine, by a proxy child.
 *
 * Parent: det_fork_on(child, node > 0, fn, arg) connects to the node's
 * detd and authenticates (a child may not open sockets), then forks an
 * ordinary local child -- the *proxy* -- with the kern machinery: the
 * snapshot, dirty tracking, sandbox, captured output and the join all
 * work as for any child.  The proxy asks detd for a worker (SPAWN: the
 * same program, libraries and CPU features), ships its memory image
 * (which is the parent's at det_fork), lets the worker run fn(arg), and
 * waits for the pages fn wrote, its output and how it ended.  Then it
 * writes those pages into its own memory, its output to its fds 1 and 2,
 * and ends the same way (return, det_exit(n), exit(n), a signal, a
 * refused system call).  The parent's join merges the proxy exactly as
 * a local child: identical semantics by construction.  If the node
 * fails before the proxy applied anything (refused, unreachable, died,
 * link cut: TCP keep-alive and TCP_USER_TIMEOUT of --node-timeout), the
 * proxy runs fn(arg) itself (det_config.fallback_local; otherwise the
 * join says DET_ENODE).  Determinism makes the result the same.
 *
 * Worker: detd execs the program by the same path, in the same
 * directory, with the same argv and environment, without ASLR, so its
 * executable, libraries and initial stack sit where the client's do (a
 * hash of the executable mappings and the argv address are checked).
 * A constructor recognises detd's control fd, receives the image, maps
 * it at its addresses, switches to its own stack to overwrite the stack
 * pages with the client's (a pointer into the parent's stack is a valid
 * arg), becomes the child space (kern/space_remote.c) and runs fn.  It
 * never returns to main.
 *
 * Wire format: net/PROTOCOL.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <xxhash.h>

#include "alloc.h"
#include "det.h"
#include "kern.h"
#include "net.h"
#include "net_worker.h"
#include "remote.h"

#define PAGE		4096UL
#define PAGE_DOWN(a)	((uintptr_t)(a) & ~(PAGE - 1))
#define PAGE_UP(a)	(((uintptr_t)(a) + PAGE - 1) & ~(PAGE - 1))
#define MAX_NODES	64
#define MAX_REGIONS	NET_MAX_REGIONS
#define WORKER_STACK	(8UL << 20)
#define DEFAULT_TIMEOUT	10000
#define DEFAULT_PORT	"7677"

/* What a proxy tells its parent (a shared page: the proxy cannot write
 * anything else the parent would see without merging it). */
struct remote_shared {
	int failed;		/* the node failed; fn ran here (or not) */
	char why[200];
};

/* A child forked on a node, as the parent and its proxy see it. */
struct remote_child {
	int active;
	unsigned node;
	int sock;		/* authenticated connection, or -1 */
	uint32_t tx_seq, rx_seq;
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
};

static struct remote *R DET_PRIVATE;
static uintptr_t argv_addr DET_PRIVATE;	/* main's argv, on the stack */

/* ---- node list and key ---------------------------------------------- */

/* Add "host:port" (or "host": the default port) to the list. */
static int
node_add(const char *s, size_t n)
{
	char *d;

	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	if (n == 0)
		return 0;
	if (R->nnodes == MAX_NODES || n + 8 > sizeof(R->node[0]))
		return -E2BIG;
	d = R->node[R->nnodes++];
	memcpy(d, s, n);
	d[n] = 0;
	if (!strchr(d, ':') || (d[0] == '[' && !strstr(d, "]:")))
		snprintf(d + n, sizeof(R->node[0]) - n, ":%s", DEFAULT_PORT);
	return 0;
}

/* DET_NODES: "host:port,host:port" or a file of them, one a line
 * (a hostfile: only the first word counts; # comments).  Read with
 * open/read: no stdio buffer from the program's heap. */
static int
nodes_parse(const char *v)
{
	char *line, *save = NULL, *buf = R->maps;
	const char *p, *q;
	size_t n = 0;
	ssize_t r;
	int fd, err = 0;

	if (!strchr(v, ',') && (fd = open(v, O_RDONLY | O_CLOEXEC)) >= 0) {
		while ((r = read(fd, buf + n, sizeof(R->maps) - 1 - n)) > 0)
			n += (size_t)r;
		close(fd);
		buf[n] = 0;
		for (line = strtok_r(buf, "\n", &save); !err && line;
		     line = strtok_r(NULL, "\n", &save))
			err = node_add(line, strcspn(line, " \t#"));
		return err;
	}
	if (strchr(v, '/'))
		return -ENOENT;
	for (p = v; !err && *p; p = *q ? q + 1 : q) {
		q = strchr(p, ',');
		if (!q)
			q = p + strlen(p);
		err = node_add(p, (size_t)(q - p));
	}
	return err;
}

/* Read DET_NODES, DET_KEY_FILE, DET_NODE_TIMEOUT once; one error line
 * each when bad (the nodes are then unusable, not the program). */
static int
remote_setup(void)
{
	const char *v;
	char *end;
	long t;
	int err;

	if (R)
		return 0;
	R = mmap(NULL, PAGE_UP(sizeof(*R)), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (R == MAP_FAILED) {
		R = NULL;
		return -ENOMEM;
	}
	space_exclude((uintptr_t)R, (uintptr_t)R + PAGE_UP(sizeof(*R)));
	R->timeout_ms = DEFAULT_TIMEOUT;
	v = getenv("DET_NODE_TIMEOUT");
	if (v && *v) {
		t = strtol(v, &end, 10);
		if (*end || t <= 0 || t > 3600000)
			fprintf(stderr, "det: DET_NODE_TIMEOUT=%s: expected "
				"milliseconds (1..3600000); using %d\n", v,
				DEFAULT_TIMEOUT);
		else
			R->timeout_ms = (int)t;
	}
	v = getenv("DET_NODES");
	if (v && *v && (err = nodes_parse(v)))
		fprintf(stderr, "det: DET_NODES=%s: %s\n", v,
			err == -E2BIG ? "too many nodes or a name too long" :
			strerror(-err));
	v = getenv("DET_KEY_FILE");
	if (!v || !*v) {
		snprintf(R->key_err, sizeof(R->key_err), "no key: set "
			 "DET_KEY_FILE or detrun --key");
	} else if ((err = net_key_load(v, R->key))) {
		snprintf(R->key_err, sizeof(R->key_err), "key %s: %s", v,
			 err == -EPERM ? "readable by group or others" :
			 err == -EINVAL ? "not a detd key" : strerror(-err));
	} else {
		R->have_key = 1;
	}
	R->parsed = 1;
	return 0;
}

/* see remote.h */
unsigned
remote_nnodes(void)
{
	if (!R && remote_setup())
		return 0;
	return R->nnodes;
}

/* ---- the program's identity ------------------------------------------ */

/*
 * The executable file mappings of this process: their start, end,
 * offset and path make the layout hash (out); their paths (but the
 * executable's) the SPAWN library list.  No malloc: the parent's heap
 * must look the same whether its children run here or on nodes.
 * 0 or -errno.
 */
static int
layout_hash(uint8_t out[16])
{
	char *line, *save = NULL, *buf = R->maps;
	size_t n = 0, k = 0;
	XXH128_hash_t v;
	ssize_t r;
	int fd;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((r = read(fd, buf + n, sizeof(R->maps) - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = 0;
	R->s.nlibs = 0;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char perms[8] = "", path[512] = "";
		unsigned long f[3];
		uint32_t i;

		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %511s", &f[0],
			   &f[1], perms, &f[2], path) < 5 ||
		    perms[2] != 'x' || path[0] != '/')
			continue;
		if (k + sizeof(f) + strlen(path) > sizeof(R->layout_in))
			return -E2BIG;
		memcpy(R->layout_in + k, f, sizeof(f));
		k += sizeof(f);
		memcpy(R->layout_in + k, path, strlen(path));
		k += strlen(path);
		for (i = 0; i < R->s.nlibs; i++)
			if (strcmp(R->paths[i], path) == 0)
				break;
		if (i < R->s.nlibs || strcmp(path, R->exe) == 0)
			continue;
		if (R->s.nlibs == NET_MAX_LIBS)
			return -E2BIG;
		strcpy(R->paths[R->s.nlibs], path);
		R->s.libs[R->s.nlibs].path = R->paths[R->s.nlibs];
		R->s.nlibs++;
	}
	v = XXH3_128bits(R->layout_in, k);
	memcpy(out, &v.low64, 8);
	memcpy(out + 8, &v.high64, 8);
	return 0;
}

/* The SPAWN request of this program, once.  0 or -errno (why[]). */
static int
remote_identity(char *why, size_t len)
{
	char **argv = (char **)argv_addr, **e;
	const char *x;
	uint32_t i;
	ssize_t n;
	int err;

	if (R->have_id)
		return 0;
	n = readlink("/proc/self/exe", R->exe, sizeof(R->exe) - 1);
	if (n < 0 || !getcwd(R->cwd, sizeof(R->cwd)))
		goto err_sys;
	R->exe[n] = 0;
	R->s.exe = R->exe;
	if ((err = net_file_hash(R->exe, R->s.exe_hash)))
		goto err_hash;
	net_cpu_features(R->s.cpu);
	err = layout_hash(R->layout);
	for (i = 0; !err && i < R->s.nlibs; i++)
		err = net_file_hash(R->s.libs[i].path, R->s.libs[i].hash);
	if (err) {
		snprintf(why, len, "cannot identify this program's "
			 "libraries: %s", strerror(-err));
		return err;
	}
	/* AT_EXECFN: the path this program was exec'd with. */
	x = (const char *)getauxval(AT_EXECFN);
	snprintf(R->execfn, sizeof(R->execfn), "%s", x ? x : R->exe);
	R->s.execfn = R->execfn;
	R->s.cwd = R->cwd;
	if (!argv) {
		snprintf(why, len, "the program's arguments are unknown");
		return -EINVAL;
	}
	for (R->s.argc = 0; argv[R->s.argc] && R->s.argc < NET_MAX_ARGS;
	     R->s.argc++)
		R->s.argv[R->s.argc] = argv[R->s.argc];
	/* The environment as exec'd: right after argv's NULL. */
	for (e = argv + R->s.argc + 1, R->s.envc = 0;
	     *e && R->s.envc < NET_MAX_ARGS; e++)
		R->s.envp[R->s.envc++] = *e;
	R->spawn_len = net_spawn_encode(&R->s, R->spawn, sizeof(R->spawn));
	if (R->spawn_len < 0) {
		snprintf(why, len, "arguments and environment too large to "
			 "ship");
		return (int)R->spawn_len;
	}
	R->have_id = 1;
	return 0;

err_hash:
	errno = -err;
err_sys:
	snprintf(why, len, "cannot identify the program: %s",
		 strerror(errno));
	return -errno;
}

/* ---- parent side ------------------------------------------------------ */

/* Connect and authenticate to node (1-based) for rc; on failure rc->sock
 * is -1 and rc->why says why. */
static void
remote_connect(struct remote_child *rc, unsigned node)
{
	char addr[sizeof(R->node[0])];
	struct net_conn c = { .timeout_ms = R->timeout_ms };
	int one = 1, idle, err;
	unsigned tmo;

	rc->sock = -1;
	memcpy(addr, R->node[node - 1], sizeof(addr));
	if (!R->have_key) {
		snprintf(rc->why, sizeof(rc->why), "%s", R->key_err);
		return;
	}
	err = remote_identity(rc->why, sizeof(rc->why));
	if (err)
		return;
	c.fd = net_connect(addr, R->timeout_ms);
	if (c.fd < 0) {
		snprintf(rc->why, sizeof(rc->why), "%.80s: %.100s", addr,
			 c.fd == -EINVAL ? "not HOST:PORT" :
			 net_strerror(c.fd));
		return;
	}
	err = net_auth_client(&c, R->key);
	if (err) {
		snprintf(rc->why, sizeof(rc->why), "%.80s: %.100s", addr,
			 net_strerror(err));
		close(c.fd);
		return;
	}
	/* A dead link or node shows as an error on the socket within
	 * about the node timeout, even while the child computes. */
	idle = R->timeout_ms / 3000 > 0 ? R->timeout_ms / 3000 : 1;
	tmo = (unsigned)R->timeout_ms;
	setsockopt(c.fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(c.fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(c.fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof(idle));
	one = 2;
	setsockopt(c.fd, IPPROTO_TCP, TCP_KEEPCNT, &one, sizeof(one));
	setsockopt(c.fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &tmo, sizeof(tmo));
	rc->sock = c.fd;
	rc->tx_seq = c.tx_seq;
	rc->rx_seq = c.rx_seq;
}

static void remote_proxy(void *arg);

/* see remote.h */
int
remote_fork(unsigned child, unsigned node, det_fn fn, void *arg,
	    int (*fork_local)(unsigned, det_fn, void *))
{
	struct remote_child *rc = &R->c[child];
	int r;

	memset(rc, 0, sizeof(*rc));
	rc->sh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rc->sh == MAP_FAILED)
		return DET_ENOMEM;
	rc->node = node;
	rc->fn = fn;
	rc->arg = arg;
	rc->sp = (uintptr_t)__builtin_frame_address(0);
	remote_connect(rc, node);
	rc->active = 1;
	r = fork_local(child, remote_proxy, rc);
	if (rc->sock >= 0)
		close(rc->sock);	/* the proxy has its copy */
	rc->sock = -1;
	if (r != DET_OK) {
		munmap(rc->sh, PAGE);
		rc->active = 0;
	}
	return r;
}

/* see remote.h */
int
remote_join_done(unsigned child, int rc_in, struct det_status *st)
{
	struct remote_child *rc;
	int r = rc_in;

	if (!R || child >= DET_MAX_CHILDREN || !R->c[child].active)
		return r;
	rc = &R->c[child];
	if (space_child_running(child))
		return r;	/* still at a barrier */
	st->node = rc->node;
	if (rc->sh->failed) {
		st->node = DET_NODE_LOCAL;
		if (!det_config.quiet)
			fprintf(stderr, "det: node %u failed for child %u "
				"(%s); %s\n", rc->node, child, rc->sh->why,
				det_config.fallback_local ?
				"it ran locally" : "nothing applied");
		if (!det_config.fallback_local && r == DET_OK) {
			st->code = DET_ENODE;
			r = DET_ENODE;
		}
	}
	munmap(rc->sh, PAGE);
	rc->active = 0;
	return r;
}

/* ---- the proxy (a sandboxed local child) ------------------------------ */

/* A growing private buffer of the proxy (mremap). */
struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int
buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : (1UL << 20);
		void *q;

		while (cap < b->len + n)
			cap *= 2;
		q = b->p ? mremap(b->p, b->cap, cap, MREMAP_MAYMOVE)
			 : mmap(NULL, cap, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (q == MAP_FAILED)
			return -ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	if (p)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* Send [lo, hi) (page aligned, readable) as PAGES frames. */
static int
send_pages(struct net_conn *c, uintptr_t lo, uintptr_t hi)
{
	uint64_t a;
	size_t n;
	int err;

	while (lo < hi) {
		struct iovec v[2];

		n = (hi - lo) / PAGE;
		if (n > NET_MAX_PAGES)
			n = NET_MAX_PAGES;
		a = lo;
		v[0] = (struct iovec){ &a, 8 };
		v[1] = (struct iovec){ (void *)lo, n * PAGE };
		err = net_sendv(c, NET_PAGES, v, 2);
		if (err)
			return err;
		lo += n * PAGE;
	}
	return 0;
}

/* The image: [0] the allocator's state, [1] the parent's stack from its
 * stack pointer to main's argv, then the merged regions.  Count. */
static size_t
image_ranges(const struct remote_child *rc, uint64_t (*r)[2], size_t max)
{
	uintptr_t lo, hi;
	size_t n;

	alloc_state_range(&lo, &hi);
	r[0][0] = lo;
	r[0][1] = hi;
	r[1][0] = (rc->sp - 512) & ~63UL;	/* the red zone too */
	r[1][1] = argv_addr;
	n = space_regions((uintptr_t (*)[2])(r + 2), max - 2);
	return n > max - 2 ? 0 : n + 2;
}

/* What came back from the worker. */
struct result {
	struct buf pages;	/* (u64 addr, u64 len, bytes)... */
	struct buf out[2];	/* stdout, stderr */
	struct buf fresh;	/* (u64 lo, u64 hi)... */
	int ended;		/* END seen */
	int32_t code;
	uint32_t kind;		/* STATUS */
	int32_t status;
	char text[NET_MAX_TEXT + 1];
};

static int proxy_frame(struct result *res, const struct net_hdr *h,
		       const uint8_t *frame);

/* A run of pages offered by hash: where, how many. */
struct hrun {
	uint64_t addr;
	uint64_t n;
};

/*
 * Offer the merged regions by hash (HASHES, up to NET_MAX_HASHES pages a
 * frame), remembering each frame's run in runs[] (*nruns).  0 or -errno.
 */
static int
ship_hashes(struct net_conn *c, const uint64_t (*reg)[2], uint32_t n,
	    struct hrun *runs, size_t *nruns, uint8_t *hbuf)
{
	uint64_t a, lo, hi, k, j;
	struct iovec v[2];
	uint32_t i;
	int err;

	*nruns = 0;
	for (i = 2; i < n; i++) {
		for (lo = reg[i][0], hi = reg[i][1]; lo < hi; lo += k * PAGE) {
			k = (hi - lo) / PAGE;
			if (k > NET_MAX_HASHES)
				k = NET_MAX_HASHES;
			for (j = 0; j < k; j++)
				net_page_hash((void *)(lo + j * PAGE),
					      hbuf + j * 16);
			a = lo;
			v[0] = (struct iovec){ &a, 8 };
			v[1] = (struct iovec){ hbuf, k * 16 };
			err = net_sendv(c, NET_HASHES, v, 2);
			if (err)
				return err;
			runs[(*nruns)++] = (struct hrun){ lo, k };
		}
	}
	return 0;
}

/* For each run offered, the node's NEED bitmap: send those pages. */
static int
ship_needed(struct net_conn *c, const struct hrun *runs, size_t nruns,
	    uint8_t *buf, struct result *res)
{
	struct net_hdr h;
	uint64_t a, j, k;
	size_t r;
	int err;

	for (r = 0; r < nruns; r++) {
		err = net_recv(c, &h, buf, NET_MAX_FRAME);
		if (err)
			return err;
		if (h.type != NET_NEED) {
			/* The worker gave up: detd's output and status. */
			err = proxy_frame(res, &h, buf);
			if (err < 0)
				return err;
			if (err == 1)
				return -ECONNABORTED;
			r--;
			continue;
		}
		memcpy(&a, buf, 8);
		if (h.type != NET_NEED || a != runs[r].addr ||
		    h.len != 8 + (runs[r].n + 7) / 8)
			return -EPROTO;
		for (j = 0; j < runs[r].n; j = k) {
			if (!(buf[8 + j / 8] >> (j % 8) & 1)) {
				k = j + 1;
				continue;
			}
			for (k = j + 1; k < runs[r].n &&
			     k - j < NET_MAX_PAGES &&
			     (buf[8 + k / 8] >> (k % 8) & 1); k++)
				;
			err = send_pages(c, a + j * PAGE, a + k * PAGE);
			if (err)
				return err;
		}
	}
	return 0;
}

/* Ship the image and GO: the allocator's state and the stack as pages;
 * the merged regions as pages, or, when the node has a page cache
 * (NET_OK_CACHE), by hash first and then only the pages it lacks.
 * 0 or -errno; -ECONNABORTED when the worker gave up and res holds
 * detd's answer (frame: NET_MAX_FRAME bytes of scratch). */
static int
proxy_ship(struct net_conn *c, struct remote_child *rc, uint32_t flags,
	   uint8_t *frame, struct result *res)
{
	uint64_t (*reg)[2] = R->reg;
	uint8_t hdr[32], *hbuf = NULL;
	struct hrun *runs = NULL;
	size_t nruns = 0, npages = 0, cap = 0;
	uint64_t go[2];
	uint32_t n;
	struct iovec v[3];
	size_t i;
	int err;

	n = (uint32_t)image_ranges(rc, reg, 2 + MAX_REGIONS);
	if (n < 2 || n > MAX_REGIONS)
		return -E2BIG;
	memcpy(hdr, R->layout, 16);
	memcpy(hdr + 16, &n, 4);
	memset(hdr + 20, 0, 4);
	memcpy(hdr + 24, &argv_addr, 8);
	v[0] = (struct iovec){ hdr, sizeof(hdr) };
	v[1] = (struct iovec){ reg, n * 16 };
	err = net_sendv(c, NET_BEGIN, v, 2);
	for (i = 0; !err && i < 2; i++)
		err = send_pages(c, PAGE_DOWN(reg[i][0]), PAGE_UP(reg[i][1]));
	if (!err && (flags & NET_OK_CACHE)) {
		for (i = 2; i < n; i++)
			npages += (reg[i][1] - reg[i][0]) / PAGE;
		cap = (npages / NET_MAX_HASHES + n) * sizeof(*runs) +
		      NET_MAX_HASHES * 16;
		hbuf = mmap(NULL, cap, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (hbuf == MAP_FAILED)
			return -ENOMEM;
		runs = (struct hrun *)(hbuf + NET_MAX_HASHES * 16);
		err = ship_hashes(c, (const uint64_t (*)[2])reg, n, runs,
				  &nruns, hbuf);
		if (!err)
			err = ship_needed(c, runs, nruns, frame, res);
		munmap(hbuf, cap);
	} else {
		for (i = 2; !err && i < n; i++)
			err = send_pages(c, reg[i][0], reg[i][1]);
	}
	if (err)
		return err;
	go[0] = (uintptr_t)rc->fn;
	go[1] = (uintptr_t)rc->arg;
	v[0] = (struct iovec){ go, sizeof(go) };
	v[1] = (struct iovec){ (void *)space_path(), strlen(space_path()) };
	return net_sendv(c, NET_GO, v, 2);
}


/* SPAWN_OK (its flags into *flags), or ERROR (-EACCES, the text in
 * res).  0 or -errno. */
static int
proxy_spawned(struct net_conn *c, struct result *res, uint32_t *flags)
{
	struct net_hdr h;
	int err;

	err = net_recv(c, &h, res->text, NET_MAX_TEXT);
	if (err)
		return err;
	if (h.type == NET_ERROR) {
		res->text[h.len] = 0;
		return -EACCES;
	}
	if (h.type != NET_SPAWN_OK || h.len != 4)
		return -EPROTO;
	memcpy(flags, res->text, 4);
	return 0;
}

/* One frame of the worker's answer into res: 1 when it was the last
 * (STATUS, or detd's ERROR), 0 when more follow, or -errno. */
static int
proxy_frame(struct result *res, const struct net_hdr *h,
	    const uint8_t *frame)
{
	uint64_t a, l;
	uint32_t fd;
	int err = 0;

	switch (h->type) {
	case NET_DIRTY:
		if (h->len < 8 + PAGE || (h->len - 8) % PAGE)
			return -EPROTO;
		memcpy(&a, frame, 8);
		l = h->len - 8;
		if ((err = buf_put(&res->pages, &a, 8)) ||
		    (err = buf_put(&res->pages, &l, 8)) ||
		    (err = buf_put(&res->pages, frame + 8, l)))
			return err;
		return 0;
	case NET_END:
		if (h->len < 8 || (h->len - 8) % 16)
			return -EPROTO;
		memcpy(&res->code, frame, 4);
		res->ended = 1;
		return buf_put(&res->fresh, frame + 8, h->len - 8);
	case NET_OUTPUT:
		if (h->len < 4)
			return -EPROTO;
		memcpy(&fd, frame, 4);
		if (fd != 1 && fd != 2)
			return -EPROTO;
		return buf_put(&res->out[fd - 1], frame + 4, h->len - 4);
	case NET_STATUS:
		if (h->len < 8)
			return -EPROTO;
		memcpy(&res->kind, frame, 4);
		memcpy(&res->status, frame + 4, 4);
		memcpy(res->text, frame + 8, h->len - 8);
		res->text[h->len - 8] = 0;
		return 1;
	case NET_ERROR:
		memcpy(res->text, frame, h->len);
		res->text[h->len] = 0;
		res->kind = NET_ST_ERROR;
		return 1;
	default:
		return -EPROTO;
	}
}

/* Receive until STATUS (frame: NET_MAX_FRAME bytes of scratch).
 * 0 or -errno (nothing applied). */
static int
proxy_receive(struct net_conn *c, struct result *res, uint8_t *frame)
{
	struct net_hdr h;
	int r;

	do {
		r = net_recv(c, &h, frame, NET_MAX_FRAME);
		if (!r)
			r = proxy_frame(res, &h, frame);
	} while (r == 0);
	return r < 0 ? r : 0;
}

static void
write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Apply what the worker did to this proxy, and end as it ended. */
static void __attribute__((noreturn))
proxy_apply(struct result *res)
{
	uint64_t a, l, lo, hi;
	size_t off;
	sigset_t all;

	for (off = 0; off + 16 <= res->fresh.len; off += 16) {
		memcpy(&lo, res->fresh.p + off, 8);
		memcpy(&hi, res->fresh.p + off + 8, 8);
		mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE);
		space_new_range(lo, hi);
	}
	for (off = 0; off + 16 <= res->pages.len; off += 16 + l) {
		memcpy(&a, res->pages.p + off, 8);
		memcpy(&l, res->pages.p + off + 8, 8);
		memcpy((void *)a, res->pages.p + off + 16, l);
	}
	write_all(1, res->out[0].p, res->out[0].len);
	write_all(2, res->out[1].p, res->out[1].len);
	switch (res->kind) {
	case NET_ST_SIGNAL:
		signal(res->status, SIG_DFL);
		sigemptyset(&all);
		sigaddset(&all, res->status);
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		raise(res->status);
		_exit(128 + res->status);
	case NET_ST_POLICY:
		if (res->status >= 0)
			syscall(res->status, 0, 0, 0, 0, 0, 0);
		signal(SIGSYS, SIG_DFL);
		raise(SIGSYS);
		_exit(126);
	case NET_ST_RAWEXIT:
		_exit(res->status);
	default:
		det_exit(res->code);
	}
}

/* The proxy: a child of the parent, under the sandbox.  See the top. */
static void
remote_proxy(void *arg)
{
	struct result res;
	struct remote_child *rc = arg;
	struct net_conn c = { .fd = rc->sock, .tx_seq = rc->tx_seq,
			      .rx_seq = rc->rx_seq };
	uint8_t *frame = MAP_FAILED;
	uint32_t flags = 0;
	int err = -EPIPE;

	memset(&res, 0, sizeof(res));
	if (c.fd < 0) {
		snprintf(rc->sh->why, sizeof(rc->sh->why), "%s", rc->why);
		goto fail;
	}
	c.timeout_ms = R->timeout_ms;
	err = net_send(&c, NET_SPAWN, R->spawn, (size_t)R->spawn_len);
	if (!err)
		err = proxy_spawned(&c, &res, &flags);
	if (err == -EACCES) {
		snprintf(rc->sh->why, sizeof(rc->sh->why), "%.40s refused: "
			 "%.140s", R->node[rc->node - 1], res.text);
		goto fail;
	}
	frame = mmap(NULL, NET_MAX_FRAME, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (frame == MAP_FAILED)
		err = -ENOMEM;
	if (!err)
		err = proxy_ship(&c, rc, flags, frame, &res);
	if (err == -ECONNABORTED) {
		err = 0;	/* res has detd's answer */
	} else if (err && err != -ETIMEDOUT && err != -ENOMEM) {
		/* The worker may have refused the image and detd said why
		 * before closing: take that reason if it is there. */
		c.timeout_ms = 200;
		if (proxy_receive(&c, &res, frame) == 0 &&
		    res.kind == NET_ST_ERROR)
			err = 0;
	} else if (!err) {
		/* Shipping done: fn may now run for as long as it takes;
		 * the socket's keep-alive notices a dead node or link. */
		c.timeout_ms = 0;
		err = proxy_receive(&c, &res, frame);
	}
	if (err) {
		snprintf(rc->sh->why, sizeof(rc->sh->why), "%.60s: %.120s",
			 R->node[rc->node - 1], net_strerror(err));
		goto fail;
	}
	if (res.kind == NET_ST_ERROR ||
	    (res.kind == NET_ST_EXIT && !res.ended)) {
		snprintf(rc->sh->why, sizeof(rc->sh->why), "%.40s: %.150s",
			 R->node[rc->node - 1],
			 res.text[0] ? res.text : "no result");
		goto fail;
	}
	close(c.fd);
	proxy_apply(&res);

fail:
	if (c.fd >= 0)
		close(c.fd);
	rc->sh->failed = 1;
	if (det_config.fallback_local)
		rc->fn(rc->arg);
}

/* ---- the worker (on the node) ----------------------------------------- */

/* The worker's state: in det_private (never merged, never part of the
 * image) like all of the runtime's variables; buffers are mapped and
 * excluded (worker_mmap). */
static struct {
	struct net_conn c;
	struct net_wctl ctl;
	uint64_t (*reg)[2];
	uint32_t nreg;
	uint8_t *stack;		/* the client's stack bytes, r[1] */
	det_fn fn;
	void *arg;
	char path[96];
	ucontext_t uc;
	uint8_t *zero;		/* a zero page */
	uint8_t *frame;		/* NET_MAX_FRAME */
	uintptr_t (*fresh)[2];	/* 1024 fresh ranges */
	size_t nfresh;
	struct net_cache cache;	/* detd's page cache, or none */
	uint8_t zero_hash[16];
	uint8_t *miss;		/* (u64 addr, 16 hash) of pages sent whole */
	size_t nmiss, miss_cap;
} W DET_PRIVATE;

/* The real clock in ns (the worker reads it before the sandbox). */
static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The worker cannot run the child: say why (detd reports it), leave. */
static void __attribute__((noreturn, format(printf, 1, 2)))
worker_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(W.ctl.shared->failed, sizeof(W.ctl.shared->failed), fmt,
		  ap);
	va_end(ap);
	_exit(1);
}

/* An anonymous mapping of the worker's own, never merged. */
static void *
worker_mmap(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		worker_fail("out of memory (%zu bytes)", len);
	space_exclude((uintptr_t)p, (uintptr_t)p + PAGE_UP(len));
	return p;
}

/* BEGIN: check the layout, map the regions. */
static void
worker_begin(void)
{
	uint8_t *frame = W.frame, mine[16];
	uint64_t argv_c;
	uintptr_t lo, hi;
	struct net_hdr h;
	uint32_t i;
	int err;

	err = net_recv(&W.c, &h, frame, NET_MAX_FRAME);
	if (err || h.type != NET_BEGIN || h.len < 32)
		worker_fail("no image from the client (%s)",
			    err ? net_strerror(err) : "wrong frame");
	memcpy(&W.nreg, frame + 16, 4);
	memcpy(&argv_c, frame + 24, 8);
	if (W.nreg < 2 || W.nreg > MAX_REGIONS || h.len != 32 + W.nreg * 16)
		worker_fail("malformed image header");
	W.reg = worker_mmap(W.nreg * 16);
	memcpy(W.reg, frame + 32, W.nreg * 16);
	if (layout_hash(mine) || memcmp(mine, frame, 16))
		worker_fail("the program or its libraries are mapped at "
			    "other addresses on the node (run the program "
			    "under detrun, which turns address "
			    "randomisation off)");
	if (argv_c != argv_addr)
		worker_fail("the initial stack differs on the node "
			    "(argv at %#lx, not %#lx)",
			    (unsigned long)argv_addr, (unsigned long)argv_c);
	alloc_state_range(&lo, &hi);
	if (W.reg[0][0] != lo || W.reg[0][1] != hi)
		worker_fail("the allocator's state is elsewhere on the node "
			    "(%#lx, not %#lx)", (unsigned long)lo,
			    (unsigned long)W.reg[0][0]);
	if (W.reg[1][1] != argv_c || W.reg[1][0] >= W.reg[1][1] ||
	    W.reg[1][1] - W.reg[1][0] > (64UL << 20))
		worker_fail("malformed stack range");
	W.stack = worker_mmap(PAGE_UP(W.reg[1][1]) - PAGE_DOWN(W.reg[1][0]));
	for (i = 2; i < W.nreg; i++) {
		err = space_image_map(W.reg[i][0], W.reg[i][1]);
		if (err)
			worker_fail("cannot map %#lx-%#lx: %s",
				    (unsigned long)W.reg[i][0],
				    (unsigned long)W.reg[i][1],
				    err == -EBUSY ? "the node's runtime "
				    "memory is there" : err == -ENOMEM ?
				    "over the node's memory limit" :
				    strerror(-err));
	}
}

/* Copy the part of page run [a, a+len) inside range r from src. */
static void
clip_copy(const uint64_t r[2], uint64_t a, const uint8_t *src, size_t len,
	  int image)
{
	uint64_t lo = a > r[0] ? a : r[0];
	uint64_t hi = a + len < r[1] ? a + len : r[1];

	if (lo >= hi)
		return;
	if (image)
		space_image_write(lo, src + (lo - a), hi - lo);
	else
		memcpy((void *)lo, src + (lo - a), hi - lo);
}

/* 1 when the pages [a, a+len) lie in one merged region, away from the
 * stack and the allocator's state, with no runtime bytes: they can be
 * received in place. */
static int
worker_direct(uint64_t a, uint64_t len)
{
	uint32_t i;

	for (i = 2; i < W.nreg; i++)
		if (a >= W.reg[i][0] && a + len <= W.reg[i][1])
			return space_image_direct(a, a + len);
	return 0;
}

/* Remember a page the node lacked (addr, hash): filed in the cache
 * after the child ran if it did not change it. */
static void
worker_missed(uint64_t a, const uint8_t *hash)
{
	if ((W.nmiss + 1) * 24 > W.miss_cap) {
		size_t cap = W.miss_cap ? 2 * W.miss_cap : (1UL << 20);
		void *p = W.miss ? mremap(W.miss, W.miss_cap, cap,
					  MREMAP_MAYMOVE)
				 : mmap(NULL, cap, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return;		/* just not cached */
		space_exclude((uintptr_t)p, (uintptr_t)p + cap);
		W.miss = p;
		W.miss_cap = cap;
	}
	memcpy(W.miss + W.nmiss * 24, &a, 8);
	memcpy(W.miss + W.nmiss * 24 + 8, hash, 16);
	W.nmiss++;
}

/* HASHES: pages the cache has (or zero pages) go in place; NEED says
 * which the client must send. */
static void
worker_hashes(uint8_t *frame, uint32_t len)
{
	uint8_t need[8 + NET_MAX_HASHES / 8], *tmp = W.zero + PAGE;
	uint64_t a, k, j, p;
	uint32_t i;
	int err, direct;

	if (len < 8 + 16 || (len - 8) % 16)
		worker_fail("image: malformed HASHES");
	memcpy(&a, frame, 8);
	k = (len - 8) / 16;
	for (i = 2; i < W.nreg; i++)
		if (a >= W.reg[i][0] && a + k * PAGE <= W.reg[i][1])
			break;
	if (i == W.nreg || a % PAGE)
		worker_fail("image: HASHES outside the image");
	memcpy(need, &a, 8);
	memset(need + 8, 0, (k + 7) / 8);
	direct = space_image_direct(a, a + k * PAGE);
	for (j = 0; j < k; j++) {
		const uint8_t *hh = frame + 8 + j * 16;

		p = a + j * PAGE;
		if (memcmp(hh, W.zero_hash, 16) == 0) {
			space_image_write(p, W.zero, PAGE);
			W.ctl.shared->pages_cached++;
		} else if (direct && net_cache_get(&W.cache, hh, (void *)p)) {
			W.ctl.shared->pages_cached++;	/* in place */
		} else if (!direct && net_cache_get(&W.cache, hh, tmp)) {
			space_image_write(p, tmp, PAGE);
			W.ctl.shared->pages_cached++;
		} else {
			need[8 + j / 8] |= (uint8_t)(1u << (j % 8));
			worker_missed(p, hh);
		}
	}
	err = net_send(&W.c, NET_NEED, need, 8 + (k + 7) / 8);
	if (err)
		worker_fail("image: %s", net_strerror(err));
}

/* After the child: file the pages the client had to send, unless the
 * child changed them, in the node's cache. */
static void
worker_cache_fill(void)
{
	uint8_t h[16];
	uint64_t a;
	size_t i;

	for (i = 0; i < W.nmiss && W.cache.slots; i++) {
		memcpy(&a, W.miss + i * 24, 8);
		net_page_hash((void *)a, h);
		if (memcmp(h, W.miss + i * 24 + 8, 16) == 0)
			net_cache_put(&W.cache, h, (void *)a);
	}
}

/* PAGES until GO. */
static void
worker_pages(void)
{
	uint8_t *frame = W.frame;
	struct net_hdr h;
	uint64_t a = 0;
	uint32_t i;
	int err;

	for (;;) {
		err = net_recv_hdr(&W.c, &h);
		if (!err && h.type == NET_PAGES && h.len >= 8 + PAGE &&
		    (h.len - 8) % PAGE == 0) {
			err = net_recv_body(&W.c, frame, 8);
			memcpy(&a, frame, 8);
			if (!err && a % PAGE == 0 &&
			    worker_direct(a, h.len - 8)) {
				/* In place: no copy. */
				err = net_recv_body(&W.c, (void *)a, h.len - 8);
				if (err)
					worker_fail("image: %s",
						    net_strerror(err));
				W.ctl.shared->pages_sent += (h.len - 8) / PAGE;
				continue;
			}
			if (!err)
				err = net_recv_body(&W.c, frame + 8,
						    h.len - 8);
		} else if (!err && h.len <= NET_MAX_FRAME) {
			err = net_recv_body(&W.c, frame, h.len);
		}
		if (err)
			worker_fail("image: %s", net_strerror(err));
		if (h.type == NET_GO)
			break;
		if (h.type == NET_HASHES) {
			worker_hashes(frame, h.len);
			continue;
		}
		if (h.type != NET_PAGES || h.len < 8 + PAGE ||
		    (h.len - 8) % PAGE)
			worker_fail("image: unexpected frame %u", h.type);
		W.ctl.shared->pages_sent += (h.len - 8) / PAGE;
		if (a % PAGE)
			worker_fail("image: unaligned page address");
		/* The allocator's state; the stack (kept for later); the
		 * merged regions (never their runtime-private bytes). */
		clip_copy(W.reg[0], a, frame + 8, h.len - 8, 0);
		if (a < W.reg[1][1] && a + h.len - 8 > W.reg[1][0]) {
			uint64_t base = PAGE_DOWN(W.reg[1][0]);
			uint64_t s[2] = { (uintptr_t)W.stack +
					  (W.reg[1][0] - base),
					  (uintptr_t)W.stack +
					  (W.reg[1][1] - base) };

			clip_copy(s, (uintptr_t)W.stack + (a - base),
				  frame + 8, h.len - 8, 0);
		}
		for (i = 2; i < W.nreg; i++)
			clip_copy(W.reg[i], a, frame + 8, h.len - 8, 1);
	}
	if (h.len < 16 || h.len - 16 >= sizeof(W.path))
		worker_fail("malformed GO");
	memcpy(&W.fn, frame, 8);
	memcpy(&W.arg, frame + 8, 8);
	memcpy(W.path, frame + 16, h.len - 16);
	W.path[h.len - 16] = 0;
}

/* Send [lo, hi) as DIRTY frames; with skip_zero, leave out zero pages
 * (fresh memory: the parent's copy of it is zero). */
static int
worker_send_run(uintptr_t lo, uintptr_t hi, int skip_zero)
{
	uint64_t a;
	size_t n;
	int err;

	while (lo < hi) {
		struct iovec v[2];

		if (skip_zero && memcmp((void *)lo, W.zero, PAGE) == 0) {
			lo += PAGE;
			continue;
		}
		for (n = 1; lo + n * PAGE < hi && n < NET_MAX_PAGES; n++)
			if (skip_zero && memcmp((void *)(lo + n * PAGE),
						W.zero, PAGE) == 0)
				break;
		a = lo;
		v[0] = (struct iovec){ &a, 8 };
		v[1] = (struct iovec){ (void *)lo, n * PAGE };
		W.ctl.shared->pages_dirty += n;
		err = net_sendv(&W.c, NET_DIRTY, v, 2);
		if (err)
			return err;
		lo += n * PAGE;
	}
	return 0;
}

/* The dirty-page callback: merged pages whole, fresh ones without
 * their zero pages. */
static int
worker_dirty_cb(uintptr_t lo, uintptr_t hi, void *ctx)
{
	size_t i;

	(void)ctx;
	for (i = 0; i < W.nfresh && i < 1024; i++)
		if (lo >= W.fresh[i][0] && hi <= W.fresh[i][1])
			return worker_send_run(lo, hi, 1);
	return worker_send_run(lo, hi, 0);
}

/* fn ended (returned: 0, or det_exit(code)): send the pages it wrote and
 * END, then leave; detd sends the output and the status. */
static void __attribute__((noreturn))
worker_publish(int code)
{
	struct iovec v[2];
	int32_t hdr[2] = { code, 0 };
	long r;

	fflush(stdout);
	fflush(stderr);
	W.nfresh = space_worker_fresh(W.fresh, 1024);
	if (W.nfresh > 1024)
		worker_fail("too many memory ranges");
	r = space_worker_dirty(worker_dirty_cb, NULL);
	if (r < 0)
		worker_fail("cannot send the child's pages: %s",
			    net_strerror((int)r));
	v[0] = (struct iovec){ hdr, 8 };
	v[1] = (struct iovec){ W.fresh, W.nfresh * 16 };
	if (net_sendv(&W.c, NET_END, v, 2))
		_exit(1);
	W.ctl.shared->code = code;
	W.ctl.shared->done = 1;
	/* Tell detd now: tearing a large address space down takes a while,
	 * and the client need not wait for it. */
	send(NET_WFD_POLICY, NET_WORKER_DONE, 4, MSG_NOSIGNAL);
	worker_cache_fill();
	_exit(0);
}

/* On the worker's own stack: the client's stack bytes go in place, the
 * space begins, fn runs. */
static void
worker_run(void)
{
	uint64_t base = PAGE_DOWN(W.reg[1][0]);
	int err;

	memcpy((void *)W.reg[1][0], W.stack + (W.reg[1][0] - base),
	       W.reg[1][1] - W.reg[1][0]);
	err = space_worker_begin(W.path, NET_WFD_POLICY, worker_publish);
	if (err)
		worker_fail("cannot start the child space: %s",
			    strerror(-err));
	W.fn(W.arg);
	worker_publish(0);
}

/* 1 when fd is a file whose name starts with name. */
static int
is_fd_named(int fd, const char *name)
{
	char p[64], link[64];
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, link, sizeof(link) - 1);
	if (n < 0)
		return 0;
	link[n] = 0;
	return strncmp(link, name, strlen(name)) == 0;
}

/* 1 when detd started this process as a worker (its control fd). */
static int
is_worker(void)
{
	return is_fd_named(NET_WFD_CTL, "/memfd:det-ctl");
}

/* Before main (after kern and libdet set themselves up). */
__attribute__((constructor(103))) static void
remote_init(int argc, char **argv, char **envp)
{
	void *stk;

	uintptr_t lo, hi;

	(void)argc;
	(void)envp;
	argv_addr = (uintptr_t)argv;
	/* The allocator's state and ours exist from here on, in the
	 * parent as in a worker: mapped at the same point of start-up, at
	 * the same addresses (the worker checks the allocator's). */
	alloc_state_range(&lo, &hi);
	remote_setup();
	if (!is_worker())
		return;
	if (net_wctl_attach(&W.ctl, NET_WFD_CTL))
		_exit(1);
	if (!R)
		worker_fail("out of memory");
	W.c.fd = NET_WFD_SOCK;
	W.c.tx_seq = W.ctl.shared->tx_seq;
	W.c.rx_seq = W.ctl.shared->rx_seq;
	W.c.shared_seq = &W.ctl.shared->tx_seq;
	W.c.timeout_ms = 600000;
	W.zero = worker_mmap(2 * PAGE);	/* a zero page, a scratch page */
	net_page_hash(W.zero, W.zero_hash);
	if (is_fd_named(NET_WFD_CACHE, "/memfd:det-cache"))
		net_cache_attach(&W.cache, NET_WFD_CACHE);
	W.frame = worker_mmap(NET_MAX_FRAME);
	W.fresh = worker_mmap(1024 * sizeof(W.fresh[0]));
	{
		ssize_t n = readlink("/proc/self/exe", R->exe,
				     sizeof(R->exe) - 1);

		if (n < 0)
			worker_fail("cannot read /proc/self/exe");
		R->exe[n] = 0;
	}
	/* Everything that may allocate, before the image replaces the
	 * heap: the sandbox's filter, the dirty-page backend's probe. */
	if (space_worker_prepare())
		worker_fail("cannot prepare the sandbox");
	W.ctl.shared->t_main = mono_ns();
	worker_begin();
	worker_pages();
	W.ctl.shared->t_image = mono_ns();
	stk = worker_mmap(WORKER_STACK);
	getcontext(&W.uc);
	W.uc.uc_stack.ss_sp = stk;
	W.uc.uc_stack.ss_size = WORKER_STACK;
	W.uc.uc_link = NULL;
	makecontext(&W.uc, worker_run, 0);
	setcontext(&W.uc);
	worker_fail("cannot switch stacks");
}
