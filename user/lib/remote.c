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
#include "remote_int.h"

struct remote *R DET_PRIVATE;
uintptr_t argv_addr DET_PRIVATE;	/* main's argv, on the stack */

/* ---- node list and key ---------------------------------------------- */

/* Add "host:port" (or "host": the default port; n > 0 bytes) to the
 * list. */
static int
node_add(const char *s, size_t n)
{
	char *d;

	if (R->nnodes == MAX_NODES || n + 8 > sizeof(R->node[0]))
		return -E2BIG;
	d = R->node[R->nnodes++];
	memcpy(d, s, n);
	d[n] = 0;
	if (!strchr(d, ':') || (d[0] == '[' && !strstr(d, "]:")))
		snprintf(d + n, sizeof(R->node[0]) - n, ":%s", DEFAULT_PORT);
	return 0;
}

/* see remote_int.h */
char *
remote_read_file(const char *path)
{
	size_t n = 0;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	while ((r = read(fd, R->maps + n, sizeof(R->maps) - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	R->maps[n] = 0;
	return R->maps;
}

/* DET_NODES: "host:port,host:port" or a hostfile of them
 * (net_nodes_next). */
static int
nodes_parse(const char *v)
{
	const char *p = v, *node;
	int file = 0, err = 0;
	size_t n;

	if (!strchr(v, ',') && (p = remote_read_file(v)) != NULL)
		file = 1;
	else if (strchr(v, '/'))
		return -ENOENT;
	else
		p = v;
	while (!err && (n = net_nodes_next(&p, file, &node)))
		err = node_add(node, n);
	return err;
}

/* Read DET_NODES, DET_KEY_FILE, DET_NODE_TIMEOUT once; one error line
 * each when bad (the nodes are then unusable, not the program). */
/* see remote_int.h */
int
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
	R->shared = mmap(NULL, DET_MAX_CHILDREN * PAGE, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (R->shared == MAP_FAILED)
		R->shared = NULL;
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
	v = getenv("DET_COMPRESS");
	if (v && *v && strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
		fprintf(stderr, "det: DET_COMPRESS=%s: expected 0 or 1; "
			"ignored\n", v);
	R->compress = v && strcmp(v, "1") == 0;
	v = getenv("DET_NET_TAG");
	if (v && *v && strcmp(v, "poly1305") != 0 && strcmp(v, "auto") != 0)
		fprintf(stderr, "det: DET_NET_TAG=%s: expected poly1305 or "
			"auto; ignored\n", v);
	if (v && strcmp(v, "poly1305") == 0)
		net_tag_gcm_off();
	v = getenv("DET_LAZY");
	if (v && *v && strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
		fprintf(stderr, "det: DET_LAZY=%s: expected 0 or 1; "
			"ignored\n", v);
	R->lazy = v && strcmp(v, "1") == 0;
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
int
layout_hash(uint8_t out[16])
{
	char *line, *save = NULL, *buf;
	size_t k = 0;
	XXH128_hash_t v;

	buf = remote_read_file("/proc/self/maps");
	if (!buf)
		return -errno;
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
	if (net_crypto_init()) {
		snprintf(rc->why, sizeof(rc->why), "cannot set libsodium up");
		return;
	}
	c.fd = net_connect(addr, R->timeout_ms);
	if (c.fd < 0) {
		snprintf(rc->why, sizeof(rc->why), "%.80s: %.100s", addr,
			 c.fd == -EINVAL ? "not HOST:PORT" :
			 net_strerror(c.fd));
		return;
	}
	err = net_auth_client(&c, R->key);
	if (err) {
		/* An older detd closes on a version it does not know. */
		snprintf(rc->why, sizeof(rc->why), "%.80s: %.100s", addr,
			 err == -EPIPE ? "closed during the handshake (a detd "
			 "of another version?)" : net_strerror(err));
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
	rc->keys = c.k;
	net_keys_wipe(&c.k);
}

/* see remote.h */
int
remote_fork(unsigned child, unsigned node, det_fn fn, void *arg,
	    int (*fork_local)(unsigned, det_fn, void *))
{
	struct remote_child *rc = &R->c[child];
	int r;

	memset(rc, 0, sizeof(*rc));
	if (!R->shared)
		return DET_ENOMEM;
	rc->sh = (struct remote_shared *)((uint8_t *)R->shared +
					  child * PAGE);
	memset(rc->sh, 0, sizeof(*rc->sh));
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
	net_keys_wipe(&rc->keys);
	if (r != DET_OK)
		rc->active = 0;
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
		/* After a merged barrier the child cannot run again: its
		 * rounds so far are in, the rest is lost (DET_ENODE). */
		int rerun = det_config.fallback_local && !rc->sh->merged;

		st->node = DET_NODE_LOCAL;
		if (!det_config.quiet)
			fprintf(stderr, "det: node %u failed for child %u "
				"(%s); %s\n", rc->node, child, rc->sh->why,
				rc->sh->restored ? "it went on locally from "
				"its last barrier" :
				rerun ? "it ran locally" : rc->sh->merged ?
				"nothing since its last barrier applied" :
				"nothing applied");
		if (!rerun && r == DET_OK) {
			st->code = DET_ENODE;
			r = DET_ENODE;
		}
	}
	rc->active = 0;
	return r;
}

/* see remote_int.h */
int
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
	remote_worker_main();
}
