/*
 * remote_proxy.c -- the proxy: a local child of det_fork_on's caller
 * that has the child's fn run on a node and becomes what it did there
 * (see remote.c for the whole design and net/PROTOCOL.md for the wire).
 * It runs under the sandbox: it only uses the connection its parent
 * opened, its own private mappings, and its fds 1 and 2.
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
#include <lz4.h>
#include <xxhash.h>

#include "alloc.h"
#include "det.h"
#include "kern.h"
#include "net.h"
#include "net_worker.h"
#include "remote_int.h"

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

/* With DET_COMPRESS=1 (detrun --compress): a buffer for lz4 (never
 * merged: a proxy's mapping is its own). */
static char *zbuf DET_PRIVATE;

/* n pages at lo as one PAGESZ frame if lz4 saves at least a tenth;
 * 1 when sent, 0 when not worth it, or -errno. */
static int
send_compressed(struct net_conn *c, uintptr_t lo, size_t n)
{
	int cap = LZ4_COMPRESSBOUND(NET_MAX_PAGES * NET_PAGE), z;
	uint64_t hdr[2] = { lo, n };
	struct iovec v[2];

	if (!zbuf) {
		zbuf = mmap(NULL, (size_t)cap, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (zbuf == MAP_FAILED) {
			zbuf = NULL;
			return 0;
		}
	}
	z = LZ4_compress_default((const char *)lo, zbuf, (int)(n * PAGE),
				 cap);
	if (z <= 0 || (size_t)z > n * PAGE / 10 * 9)
		return 0;
	v[0] = (struct iovec){ hdr, sizeof(hdr) };
	v[1] = (struct iovec){ zbuf, (size_t)z };
	return net_sendv(c, NET_PAGESZ, v, 2) ?: 1;
}

/* see remote_int.h */
int
remote_send_pages(struct net_conn *c, uintptr_t lo, uintptr_t hi)
{
	uint64_t a;
	size_t n;
	int err;

	while (lo < hi) {
		struct iovec v[2];

		n = (hi - lo) / PAGE;
		if (n > NET_MAX_PAGES)
			n = NET_MAX_PAGES;
		err = R->compress ? send_compressed(c, lo, n) : 0;
		if (err < 0)
			return err;
		if (err == 0) {
			a = lo;
			v[0] = (struct iovec){ &a, 8 };
			v[1] = (struct iovec){ (void *)lo, n * PAGE };
			err = net_sendv(c, NET_PAGES, v, 2);
			if (err)
				return err;
		}
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
			err = remote_send_pages(c, a + j * PAGE, a + k * PAGE);
			if (err)
				return err;
		}
	}
	return 0;
}

/* Offer the merged regions reg[2..n) by hash and send the pages the
 * worker lacks (ship_hashes, ship_needed).  0 or -errno; -ECONNABORTED
 * when the worker gave up and res holds detd's answer. */
static int
ship_by_hash(struct net_conn *c, const uint64_t (*reg)[2], uint32_t n,
	     uint8_t *frame, struct result *res)
{
	size_t nruns = 0, npages = 0, cap, i;
	struct hrun *runs;
	uint8_t *hbuf;
	int err;

	for (i = 2; i < n; i++)
		npages += (reg[i][1] - reg[i][0]) / PAGE;
	cap = (npages / NET_MAX_HASHES + n) * sizeof(*runs) +
	      NET_MAX_HASHES * 16;
	hbuf = mmap(NULL, cap, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hbuf == MAP_FAILED)
		return -ENOMEM;
	runs = (struct hrun *)(hbuf + NET_MAX_HASHES * 16);
	err = ship_hashes(c, reg, n, runs, &nruns, hbuf);
	if (!err)
		err = ship_needed(c, runs, nruns, frame, res);
	munmap(hbuf, cap);
	return err;
}

/* FNSTACK: this proxy's fn stack, where the worker runs fn if it can
 * (then its checkpoints at barriers can go on here), and the stack
 * protector's canary fn's frames must carry.  0 or -errno. */
static int
ship_fnstack(struct net_conn *c)
{
	uint64_t r[3];
	uintptr_t lo, hi;

	space_stack_range(&lo, &hi);
	r[0] = lo;
	r[1] = hi;
	r[2] = canary_get();
	return net_send(c, NET_FNSTACK, r, sizeof(r));
}

/* GO: fn, arg and this space's place in the tree.  0 or -errno. */
static int
ship_go(struct net_conn *c, const struct remote_child *rc)
{
	uint64_t go[2] = { (uintptr_t)rc->fn, (uintptr_t)rc->arg };
	struct iovec v[2];

	v[0] = (struct iovec){ go, sizeof(go) };
	v[1] = (struct iovec){ (void *)space_path(), strlen(space_path()) };
	return net_sendv(c, NET_GO, v, 2);
}

/* proxy_frame for remote_prefetch. */
static int
proxy_other(const struct net_hdr *h, const uint8_t *frame, void *ctx)
{
	return proxy_frame(ctx, h, frame);
}

/*
 * --lazy: the worker's LAZY answer (the ranges it will take while fn
 * runs, each one of the merged regions): into lazy[] (*nlazy), and
 * those regions dropped from reg (*n).  0 or -errno; -ECONNABORTED when
 * the worker gave up and res holds detd's answer.
 */
static int
proxy_lazy_ranges(struct net_conn *c, uint64_t (*reg)[2], uint32_t *n,
		  uint64_t (*lazy)[2], size_t *nlazy, uint8_t *frame,
		  struct result *res)
{
	struct net_hdr h;
	uint32_t i, k;
	size_t j = 0;
	int err;

	for (;;) {
		err = net_recv(c, &h, frame, NET_MAX_FRAME);
		if (err)
			return err;
		if (h.type == NET_LAZY)
			break;
		err = proxy_frame(res, &h, frame);
		if (err)
			return err < 0 ? err : -ECONNABORTED;
	}
	err = net_ranges_parse(frame, h.len, lazy, MAX_REGIONS, nlazy);
	if (err)
		return err;
	for (i = k = 2; i < *n; i++) {
		if (j < *nlazy && lazy[j][0] == reg[i][0] &&
		    lazy[j][1] == reg[i][1]) {
			j++;
			continue;
		}
		reg[k][0] = reg[i][0];
		reg[k][1] = reg[i][1];
		k++;
	}
	if (j != *nlazy)
		return -EPROTO;	/* not the merged regions, in order */
	*n = k;
	return 0;
}

/* Ship the image and GO: the allocator's state and the stack as pages;
 * the merged regions as pages, or, when the node has a page cache
 * (NET_OK_CACHE), by hash first and then only the pages it lacks; with
 * --lazy, the ranges the worker takes lazily after GO, while fn runs
 * (remote_prefetch).  0 or -errno; -ECONNABORTED when the worker gave up
 * and res holds detd's answer (frame: NET_MAX_FRAME bytes of scratch). */
static int
proxy_ship(struct net_conn *c, struct remote_child *rc, uint32_t flags,
	   uint8_t *frame, struct result *res)
{
	uint64_t (*reg)[2] = R->reg, (*lazy)[2] = NULL;
	uint8_t hdr[32];
	size_t nlazy = 0;
	size_t lcap = PAGE_UP(MAX_REGIONS * 16);
	uint32_t n, bflags = R->lazy ? NET_BEGIN_LAZY : 0;
	size_t i;
	int err;

	n = (uint32_t)image_ranges(rc, reg, 2 + MAX_REGIONS);
	if (n < 2 || n > MAX_REGIONS)
		return -E2BIG;
	memcpy(hdr, R->layout, 16);
	memcpy(hdr + 16, &n, 4);
	memcpy(hdr + 20, &bflags, 4);
	memcpy(hdr + 24, &argv_addr, 8);
	/* One piece: an AES-GCM tag takes the payload's bulk contiguous. */
	memcpy(frame, hdr, sizeof(hdr));
	memcpy(frame + sizeof(hdr), reg, n * 16);
	err = net_send(c, NET_BEGIN, frame, sizeof(hdr) + n * 16);
	for (i = 0; !err && i < 2; i++)
		err = remote_send_pages(c, PAGE_DOWN(reg[i][0]),
					PAGE_UP(reg[i][1]));
	if (!err && R->lazy) {
		lazy = mmap(NULL, lcap, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (lazy == MAP_FAILED)
			return -ENOMEM;
		err = proxy_lazy_ranges(c, reg, &n, lazy, &nlazy, frame, res);
	}
	if (!err && (flags & NET_OK_CACHE)) {
		err = ship_by_hash(c, (const uint64_t (*)[2])reg, n, frame,
				   res);
	} else {
		for (i = 2; !err && i < n; i++)
			err = remote_send_pages(c, reg[i][0], reg[i][1]);
	}
	if (!err)
		err = ship_fnstack(c);
	if (!err)
		err = ship_go(c, rc);
	if (!err && nlazy)
		err = remote_prefetch(c, (const uint64_t (*)[2])lazy, nlazy,
				      (flags & NET_OK_CACHE) != 0, frame,
				      proxy_other, res);
	if (lazy)
		munmap(lazy, lcap);
	return err;
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

/* The worker's checkpoint of fn at its last merged barrier (valid), for
 * going on here if its node fails (remote_worker_restore).  Lives on
 * the proxy's stack, which crosses its barriers. */
struct proxy_ckpt {
	int valid;		/* its barrier was merged */
	int32_t kr;		/* that barrier's result */
	size_t len;
	uint8_t b[8 + sizeof(ucontext_t) + NET_MAX_CKPT];
};

static int proxy_barrier(struct net_conn *c, struct remote_child *rc,
			 struct result *res, uint8_t **frame,
			 const struct net_hdr *h, struct proxy_ckpt *ck);

/* CHECKPOINT (h, payload in frame) into ck, valid once its barrier is
 * merged.  0 or -EPROTO. */
static int
proxy_checkpoint(struct proxy_ckpt *ck, const struct net_hdr *h,
		 const uint8_t *frame)
{
	ck->valid = 0;
	ck->len = 0;
	if (h->len == 8)
		return 0;	/* none: fn's stack could not be shipped */
	if (h->len <= 8 + sizeof(ucontext_t) || h->len > sizeof(ck->b))
		return -EPROTO;
	memcpy(ck->b, frame, h->len);
	ck->len = h->len;
	return 0;
}

/* Receive until STATUS (*frame: NET_MAX_FRAME bytes of scratch); with
 * rc, the child's barriers on the way (proxy_barrier).  0 or -errno
 * (nothing applied since the last barrier). */
static int
proxy_receive(struct net_conn *c, struct result *res, uint8_t **frame,
	      struct remote_child *rc, struct proxy_ckpt *ck)
{
	struct net_hdr h;
	int r;

	do {
		r = net_recv(c, &h, *frame, NET_MAX_FRAME);
		if (!r && h.type == NET_BARRIER && rc)
			r = proxy_barrier(c, rc, res, frame, &h, ck);
		else if (!r && h.type == NET_CHECKPOINT && ck)
			r = proxy_checkpoint(ck, &h, *frame);
		else if (!r)
			r = proxy_frame(res, &h, *frame);
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

/* Apply the pages the worker sent (and the ranges its allocator mapped)
 * and its output to this proxy. */
static void
proxy_apply_pages(struct result *res)
{
	uint64_t a, l, lo, hi;
	size_t off;

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
}

/* Apply what the worker did to this proxy, and end as it ended. */
static void __attribute__((noreturn))
proxy_apply(struct result *res)
{
	sigset_t all;

	proxy_apply_pages(res);
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

/* ---- det_barrier in the remote child (net/PROTOCOL.md, "Barriers") -- */

/* Release what res holds (applied). */
static void
result_reset(struct result *res)
{
	struct buf *b[4] = { &res->pages, &res->out[0], &res->out[1],
			     &res->fresh };
	size_t i;

	for (i = 0; i < 4; i++)
		if (b[i]->p)
			munmap(b[i]->p, b[i]->cap);
	memset(res, 0, sizeof(*res));
}

/*
 * After the barrier, in the proxy that continues: send the worker the
 * fresh snapshot -- this proxy's memory, the parent's at det_sync --
 * and det_barrier's result kr: RESUME (the regions), the allocator's
 * state and the stack as PAGES, the merged regions by hash (the worker
 * asks for the pages it does not have as they are), GO.  0 or -errno;
 * -ECONNABORTED when the worker gave up and res holds detd's answer.
 */
static int
proxy_resume(struct net_conn *c, struct remote_child *rc, int32_t kr,
	     uint8_t *frame, struct result *res)
{
	uint64_t (*reg)[2] = R->reg;
	int32_t hdr[2];
	struct iovec v[2];
	uint32_t n, i;
	int err;

	n = (uint32_t)image_ranges(rc, reg, 2 + MAX_REGIONS);
	if (n < 2 || n > MAX_REGIONS)
		return -E2BIG;
	hdr[0] = kr;
	memcpy(&hdr[1], &n, 4);
	v[0] = (struct iovec){ hdr, sizeof(hdr) };
	v[1] = (struct iovec){ reg, n * 16 };
	err = net_sendv(c, NET_RESUME, v, 2);
	for (i = 0; !err && i < 2; i++)
		err = remote_send_pages(c, PAGE_DOWN(reg[i][0]),
					PAGE_UP(reg[i][1]));
	if (!err)
		err = ship_by_hash(c, (const uint64_t (*)[2])reg, n, frame,
				   res);
	if (!err)
		err = ship_go(c, rc);
	return err;
}

/*
 * BARRIER (h; its payload, the child's fresh ranges, in *frame): the
 * remote child is at det_barrier.  Apply what it sent since its last
 * barrier to this proxy, then do det_barrier here, carrying the
 * connection across: the parent's det_sync merges this proxy, and a
 * replacement forked from the parent continues below (its own memory:
 * *frame is mapped again, res starts empty).  From then on the child
 * cannot run again elsewhere (rc->sh->merged).  Send the worker the
 * fresh snapshot (proxy_resume).  0 to receive on, 1 when res holds
 * detd's last answer, or -errno.
 */
static int
proxy_barrier(struct net_conn *c, struct remote_child *rc,
	      struct result *res, uint8_t **frame, const struct net_hdr *h,
	      struct proxy_ckpt *ck)
{
	int32_t kr;
	int err;

	if (h->len < 8 || (h->len - 8) % 16)
		return -EPROTO;
	err = buf_put(&res->fresh, *frame + 8, h->len - 8);
	if (err)
		return err;
	proxy_apply_pages(res);
	result_reset(res);
	rc->sh->merged = 1;
	kr = space_barrier_fd(&c->fd);
	/* The replacement (or, if the barrier was refused, this proxy). */
	ck->kr = kr;
	ck->valid = ck->len > 0;
	*frame = mmap(NULL, NET_MAX_FRAME, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*frame == MAP_FAILED) {
		*frame = NULL;
		return -ENOMEM;
	}
	c->timeout_ms = R->timeout_ms;
	err = proxy_resume(c, rc, kr, *frame, res);
	c->timeout_ms = 0;
	if (err == -ECONNABORTED)
		return 1;
	return err;
}

/* see remote_int.h */
void
remote_proxy(void *arg)
{
	struct result res;
	struct remote_child *rc = arg;
	struct net_conn c = { .fd = rc->sock, .tx_seq = rc->tx_seq,
			      .rx_seq = rc->rx_seq };
	uint8_t *frame = MAP_FAILED;
	struct proxy_ckpt ck;
	uint32_t flags = 0;
	int err = -EPIPE;

	memset(&res, 0, sizeof(res));
	net_conn_key(&c, &rc->keys);
	ck.valid = 0;
	ck.len = 0;
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
		if (proxy_receive(&c, &res, &frame, NULL, NULL) == 0 &&
		    res.kind == NET_ST_ERROR)
			err = 0;
	} else if (!err) {
		/* Shipping done: fn may now run for as long as it takes;
		 * the socket's keep-alive notices a dead node or link. */
		c.timeout_ms = 0;
		err = proxy_receive(&c, &res, &frame, rc, &ck);
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
	/* After a merged barrier, a re-run would apply that round twice:
	 * go on from the worker's checkpoint of it, or end with nothing
	 * more applied (the join says DET_ENODE). */
	if (det_config.fallback_local && rc->sh->merged && ck.valid) {
		rc->sh->merged = 0;
		rc->sh->restored = 1;
		remote_worker_restore(ck.b, ck.len, ck.kr);
		rc->sh->merged = 1;	/* it did not fit */
		rc->sh->restored = 0;
	}
	if (det_config.fallback_local && !rc->sh->merged)
		rc->fn(rc->arg);
}

