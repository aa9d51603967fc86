/*
 * remote_worker.c -- the worker on a node: the program detd exec'd for
 * one remote child.  Before main, it receives the image, maps it at its
 * addresses, becomes the child space and runs fn, then sends back what
 * fn wrote (see remote.c and net/PROTOCOL.md).
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
	uint8_t *zbuf;		/* NET_MAX_PAGES pages: lz4 output */
	uintptr_t (*fresh)[2];	/* 1024 fresh ranges */
	size_t nfresh;
	struct net_cache cache;	/* detd's page cache, or none */
	uint8_t zero_hash[16];
	size_t nlazy;		/* ranges that come while fn runs */
	uint8_t *miss;		/* (u64 addr, 16 hash) of pages sent whole */
	size_t nmiss, miss_cap;
	int resuming;		/* receiving the snapshot after a barrier */
	uint64_t (*regbuf)[2];	/* MAX_REGIONS: the regions after one */
	volatile int is_worker;	/* 0 in a proxy that restored fn */
	uint64_t fs_lo, fs_hi;	/* fn's stack: the proxy's (FNSTACK), or 0 */
	uint64_t canary;	/* the client's stack protector canary */
	ucontext_t ck;		/* fn's registers at the last barrier */
	int restored_rc;	/* det_barrier's result after a restore */
} W DET_PRIVATE;

/* The real clock in ns (clock_gettime is logical under detrun). */
static uint64_t
mono_ns(void)
{
	return space_now_ns();
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

/* --lazy: tell the client which ranges may come while fn runs (none
 * when this node cannot: then it ships them all before GO). */
static void
worker_lazy(void)
{
	int devfd = is_fd_named(NET_WFD_UFFD, "/dev/userfaultfd") ?
		    NET_WFD_UFFD : -1;
	size_t n = lazy_setup((const uint64_t (*)[2])W.reg, W.nreg, devfd);
	int err;

	W.nlazy = n;
	if (devfd >= 0)
		close(devfd);
	err = net_send(&W.c, NET_LAZY, lazy_ranges(), n * 16);
	if (err)
		worker_fail("image: %s", net_strerror(err));
}

/* BEGIN: check the layout, map the regions. */
static void
worker_begin(void)
{
	uint8_t *frame = W.frame, mine[16];
	uint64_t argv_c;
	uintptr_t lo, hi;
	struct net_hdr h;
	uint32_t i, flags;
	int err;

	err = net_recv(&W.c, &h, frame, NET_MAX_FRAME);
	if (err || h.type != NET_BEGIN || h.len < 32)
		worker_fail("no image from the client (%s)",
			    err ? net_strerror(err) : "wrong frame");
	memcpy(&W.nreg, frame + 16, 4);
	memcpy(&flags, frame + 20, 4);
	memcpy(&argv_c, frame + 24, 8);
	if (W.nreg < 2 || W.nreg > MAX_REGIONS || h.len != 32 + W.nreg * 16 ||
	    (flags & ~NET_BEGIN_LAZY))
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
	if (flags & NET_BEGIN_LAZY)
		worker_lazy();
	else if (is_fd_named(NET_WFD_UFFD, "/dev/userfaultfd"))
		close(NET_WFD_UFFD);
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

/* 1 when the page at p has hash hh already. */
static int
worker_same(uint64_t p, const uint8_t *hh)
{
	uint8_t h[16];

	net_page_hash((void *)p, h);
	return memcmp(h, hh, 16) == 0;
}

/* HASHES: pages the cache has (or zero pages) go in place -- after a
 * barrier, pages that are the same already stay; NEED says which the
 * client must send. */
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
		if (W.resuming && worker_same(p, hh) &&
		    (direct || space_image_direct(p, p + PAGE)))
			continue;	/* the page did not change */
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

/* Whole pages [a, a+len) of the image from src: the allocator's state;
 * the stack (kept for later); the merged regions (never their
 * runtime-private bytes). */
static void
place_pages(uint64_t a, const uint8_t *src, size_t len)
{
	uint32_t i;

	clip_copy(W.reg[0], a, src, len, 0);
	if (a < W.reg[1][1] && a + len > W.reg[1][0]) {
		uint64_t base = PAGE_DOWN(W.reg[1][0]);
		uint64_t s[2] = { (uintptr_t)W.stack + (W.reg[1][0] - base),
				  (uintptr_t)W.stack + (W.reg[1][1] - base) };

		clip_copy(s, (uintptr_t)W.stack + (a - base), src, len, 0);
	}
	for (i = 2; i < W.nreg; i++)
		clip_copy(W.reg[i], a, src, len, 1);
}

/* PAGESZ: lz4 of whole pages; decompressed in place when it can be,
 * else into scratch and placed like PAGES. */
static void
worker_pagesz(uint8_t *frame, uint32_t len)
{
	uint64_t a, n;
	uint8_t *dst;
	int z;

	if (len < 16)
		worker_fail("image: malformed PAGESZ");
	memcpy(&a, frame, 8);
	memcpy(&n, frame + 8, 8);
	if (a % PAGE || n == 0 || n > NET_MAX_PAGES)
		worker_fail("image: malformed PAGESZ");
	dst = worker_direct(a, n * PAGE) ? (uint8_t *)a : W.zbuf;
	z = LZ4_decompress_safe((const char *)frame + 16, (char *)dst,
				(int)(len - 16), (int)(n * PAGE));
	if (z != (int)(n * PAGE))
		worker_fail("image: bad lz4 data");
	W.ctl.shared->pages_sent += n;
	W.ctl.shared->pages_lz4 += n;
	if (dst == (uint8_t *)a)
		return;
	place_pages(a, dst, n * PAGE);
}

/* PAGES until GO. */
static void
worker_pages(void)
{
	uint8_t *frame = W.frame;
	struct net_hdr h;
	uint64_t a = 0;
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
		if (h.type == NET_PAGESZ) {
			worker_pagesz(frame, h.len);
			continue;
		}
		if (h.type == NET_FNSTACK && h.len == 24) {
			if (!W.resuming) {
				memcpy(&W.fs_lo, frame, 8);
				memcpy(&W.fs_hi, frame + 8, 8);
				memcpy(&W.canary, frame + 16, 8);
			}
			continue;
		}
		if (h.type != NET_PAGES || h.len < 8 + PAGE ||
		    (h.len - 8) % PAGE)
			worker_fail("image: unexpected frame %u", h.type);
		W.ctl.shared->pages_sent += (h.len - 8) / PAGE;
		if (a % PAGE)
			worker_fail("image: unaligned page address");
		place_pages(a, frame + 8, h.len - 8);
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

/* Send the pages fn wrote (since the space began or its last barrier)
 * as DIRTY frames, its fresh ranges into W.fresh; ends lazy paging
 * first.  Pages sent; failures end the worker. */
static long
worker_send_dirty(void)
{
	long r;

	fflush(stdout);
	fflush(stderr);
	W.nfresh = space_worker_fresh(W.fresh, 1024);
	if (W.nfresh > 1024)
		worker_fail("too many memory ranges");
	/* Fresh memory goes back whole (read below): the lazy pages in it
	 * must be here before paging stops. */
	for (r = 0; r < (long)W.nfresh; r++)
		lazy_touch(W.fresh[r][0], W.fresh[r][1]);
	r = lazy_stop(&W.c, W.ctl.shared);
	if (r)
		worker_fail("lazy paging failed: %s", strerror((int)-r));
	r = space_worker_dirty(worker_dirty_cb, NULL);
	if (r < 0)
		worker_fail("cannot send the child's pages: %s",
			    net_strerror((int)r));
	return r;
}

/* fn ended (returned: 0, or det_exit(code)): send the pages it wrote and
 * END, then leave; detd sends the output and the status. */
static void __attribute__((noreturn))
worker_publish(int code)
{
	struct iovec v[2];
	int32_t hdr[2] = { code, 0 };

	worker_send_dirty();
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

/* ---- det_barrier in fn (net/PROTOCOL.md, "Barriers") ---------------- */

/* Ship what fn wrote to capture file fd (1 or 2) so far as OUTPUT
 * frames, and empty it: detd sends only the rest at the end.  0 or
 * -errno. */
static int
worker_ship_output(int fd)
{
	uint32_t which = (uint32_t)fd;
	struct iovec v[2] = { { &which, 4 }, { W.zbuf, 0 } };
	off_t off = 0;
	ssize_t n;
	int err;

	while ((n = pread(fd, W.zbuf, NET_MAX_PAGES * PAGE, off)) > 0) {
		v[1].iov_len = (size_t)n;
		err = net_sendv(&W.c, NET_OUTPUT, v, 2);
		if (err)
			return err;
		off += n;
	}
	if (n < 0)
		return -errno;
	return off ? space_worker_clear_output(fd) : 0;
}

/* CHECKPOINT: fn's registers (W.ck) and its stack from there to the
 * top, so the proxy can go on with fn itself if this node fails later
 * (remote_worker_restore); u64 0 alone when fn's stack is not the
 * proxy's or too deep to ship.  0 or -errno. */
static int
worker_ship_checkpoint(void)
{
	uint8_t *b = W.frame;	/* one piece: an AES-GCM tag needs that */
	uint64_t lo = 0;
	size_t n = 8;

	_Static_assert(8 + sizeof(W.ck) + NET_MAX_CKPT <= NET_MAX_FRAME,
		       "a checkpoint fits the frame buffer");
	if (W.fs_lo) {
		lo = ((uint64_t)W.ck.uc_mcontext.gregs[REG_RSP] - 512) & ~15UL;
		if (lo < W.fs_lo || W.fs_hi - lo > NET_MAX_CKPT)
			lo = 0;
	}
	memcpy(b, &lo, 8);
	if (lo) {
		memcpy(b + n, &W.ck, sizeof(W.ck));
		n += sizeof(W.ck);
		memcpy(b + n, (void *)lo, W.fs_hi - lo);
		n += W.fs_hi - lo;
	}
	return net_send(&W.c, NET_CHECKPOINT, b, n);
}

/* RESUME: the barrier's result into *rc; its regions become W.reg (the
 * allocator's state and the stack where they were), the merged ones
 * mapped.  Waits as long as the parent takes to det_sync. */
static void
worker_resume_regions(int32_t *rc)
{
	struct net_hdr h;
	size_t n, i;
	int err;

	W.c.timeout_ms = 0;
	err = net_recv(&W.c, &h, W.frame, NET_MAX_FRAME);
	W.c.timeout_ms = 600000;
	if (err || h.type != NET_RESUME)
		worker_fail("barrier: no RESUME from the client (%s)",
			    err ? net_strerror(err) : "wrong frame");
	if (!W.regbuf)
		W.regbuf = worker_mmap(MAX_REGIONS * 16);
	err = net_resume_parse(W.frame, h.len, rc, W.regbuf, MAX_REGIONS,
			       &n);
	if (err)
		worker_fail("barrier: malformed RESUME");
	if (memcmp(W.regbuf, W.reg, 32) != 0)
		worker_fail("barrier: the allocator's state or the stack "
			    "moved");
	W.reg = W.regbuf;
	W.nreg = (uint32_t)n;
	for (i = 2; i < n; i++) {
		err = space_image_map(W.reg[i][0], W.reg[i][1]);
		if (err)
			worker_fail("barrier: cannot map %#lx-%#lx: %s",
				    (unsigned long)W.reg[i][0],
				    (unsigned long)W.reg[i][1],
				    strerror(-err));
	}
}

/* 1 when page a lies in one of the merged regions W.reg[2..). */
static int
worker_merged(uint64_t a)
{
	uint32_t lo = 2, hi = W.nreg, mid;

	while (lo < hi) {	/* ascending, disjoint (net_resume_parse) */
		mid = lo + (hi - lo) / 2;
		if (a >= W.reg[mid][1])
			lo = mid + 1;
		else if (a < W.reg[mid][0])
			hi = mid;
		else
			return 1;
	}
	return 0;
}

/* Memory fn's allocator mapped before the barrier (W.fresh) that the
 * fresh snapshot lacks (its merge failed: a conflict): fresh and empty
 * again, as it is in the parent (a PROT_NONE reservation), so the
 * allocator, handing it out again, finds zeros as a local child does. */
static void
worker_drop_stale(void)
{
	uint64_t a, b;
	size_t i;

	for (i = 0; i < W.nfresh && i < 1024; i++)
		for (a = W.fresh[i][0]; a < W.fresh[i][1]; a = b) {
			for (b = a; b < W.fresh[i][1] && !worker_merged(b);
			     b += PAGE)
				;
			if (b > a && mmap((void *)a, b - a, PROT_NONE,
					  MAP_PRIVATE | MAP_ANONYMOUS |
					  MAP_NORESERVE | MAP_FIXED, -1, 0) ==
				     MAP_FAILED)
				worker_fail("barrier: cannot drop %#lx-%#lx",
					    (unsigned long)a,
					    (unsigned long)b);
			if (b == a)
				b += PAGE;
		}
}

/*
 * det_barrier in fn (kern calls it, see space_worker_set_barrier): send
 * the pages fn wrote, its output so far and BARRIER; the proxy on the
 * client applies them and does the barrier there.  Then receive the
 * fresh snapshot (RESUME, PAGES, HASHES answered by NEED, GO), start the
 * space over from it, and return the barrier's result.  A lazy image is
 * taken whole first.  Failures end the worker.
 */
static int
worker_barrier(void)
{
	int32_t rc = 0, hdr[2] = { 0, 0 };
	uint64_t base = PAGE_DOWN(W.reg[1][0]);
	char path[sizeof(W.path)];
	det_fn fn = W.fn;
	void *arg = W.arg;
	struct iovec v[2];
	int err;

	if (W.fs_lo) {
		getcontext(&W.ck);
		if (!W.is_worker)
			return W.restored_rc;	/* restored in the proxy */
	}
	if (W.nlazy)
		lazy_touch(0, UINTPTR_MAX);
	W.nlazy = 0;
	worker_send_dirty();
	space_worker_pause();
	err = worker_ship_checkpoint();
	if (!err)
		err = worker_ship_output(1);
	if (!err)
		err = worker_ship_output(2);
	v[0] = (struct iovec){ hdr, 8 };
	v[1] = (struct iovec){ W.fresh, W.nfresh * 16 };
	if (!err)
		err = net_sendv(&W.c, NET_BARRIER, v, 2);
	if (err)
		worker_fail("barrier: %s", net_strerror(err));
	worker_resume_regions(&rc);
	worker_drop_stale();
	memcpy(path, W.path, sizeof(path));
	W.resuming = 1;
	worker_pages();
	W.resuming = 0;
	if (W.fn != fn || W.arg != arg || strcmp(W.path, path) != 0)
		worker_fail("barrier: the snapshot is for another child");
	memcpy((void *)W.reg[1][0], W.stack + (W.reg[1][0] - base),
	       W.reg[1][1] - W.reg[1][0]);
	err = space_worker_resume();
	if (err)
		worker_fail("barrier: cannot go on from the snapshot: %s",
			    strerror(-err));
	return rc;
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
	err = lazy_start(&W.c, W.ctl.shared, &W.cache, W.frame);
	if (err)
		worker_fail("cannot start lazy paging: %s", strerror(-err));
	space_worker_set_barrier(worker_barrier);
	err = space_worker_begin(W.path, NET_WFD_POLICY, worker_publish);
	if (err)
		worker_fail("cannot start the child space: %s",
			    strerror(-err));
	lazy_go();
	W.fn(W.arg);
	if (!W.is_worker)
		space_exit(0);	/* fn went on in its proxy */
	worker_publish(0);
}

/*
 * Before the worker maps anything of its own, reserve (PROT_NONE) the
 * addresses where the client maps memory after its start -- every hole
 * up to 1 GiB between the mappings (but below [stack], its guard gap),
 * and WORKER_RESERVE below the lowest mapping, where top-down mmap puts
 * new ones -- so memory its parent maps later (new regions of the
 * snapshot after a barrier) never meets the worker's own: the worker's
 * mappings go below all that, and space_image_map makes the reserved
 * parts read-write.  Best effort (no reservation: only that risk).
 */
static void
worker_reserve(void)
{
	char *line, *save = NULL, *buf;
	unsigned long lo, hi, prev = 0;

	mmap(NULL, WORKER_RESERVE, PROT_NONE,
	     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!R || !(buf = remote_read_file("/proc/self/maps")))
		return;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		if (prev && lo > prev && lo - prev <= (1UL << 30) &&
		    !strstr(line, "[stack]"))
			mmap((void *)prev, lo - prev, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			     MAP_FIXED_NOREPLACE, -1, 0);
		prev = hi;
	}
}

/* The stack fn runs on: the proxy's own addresses (FNSTACK) when they
 * are free here (the reserve holds them), so a checkpoint of it can go
 * on in the proxy; else one of the worker's.  Its size into *len. */
static void *
worker_fn_stack(size_t *len)
{
	if (W.fs_lo && W.fs_lo % PAGE == 0 && W.fs_hi % PAGE == 0 &&
	    W.fs_hi > W.fs_lo && W.fs_hi - W.fs_lo <= (64UL << 20) &&
	    space_image_map(W.fs_lo, W.fs_hi) == 0 &&
	    space_exclude(W.fs_lo, W.fs_hi) == 0) {
		*len = W.fs_hi - W.fs_lo;
		return (void *)W.fs_lo;
	}
	W.fs_lo = W.fs_hi = 0;
	*len = WORKER_STACK;
	return worker_mmap(WORKER_STACK);
}

/* remote_worker_restore's state (in the proxy). */
static struct {
	uint8_t *p;		/* a private copy of the checkpoint */
	size_t len;
	uint64_t lo;
	ucontext_t tramp;
} RS DET_PRIVATE;

/* On a scratch stack: fn's stack bytes in place, then fn's registers. */
static void
restore_main(void)
{
	size_t off = 8 + sizeof(ucontext_t);

	memcpy((void *)RS.lo, RS.p + off, RS.len - off);
	setcontext(&W.ck);
	_exit(127);
}

/* see remote_int.h */
int
remote_worker_restore(const uint8_t *ck, size_t len, int rc)
{
	size_t off = 8 + sizeof(ucontext_t), ssz = 256UL << 10;
	uintptr_t slo, shi;
	uint64_t lo;
	void *stk;

	if (len <= off)
		return -EINVAL;
	memcpy(&lo, ck, 8);
	space_stack_range(&slo, &shi);
	if (!lo || lo < slo || lo + (len - off) != shi)
		return -EINVAL;
	RS.p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	stk = mmap(NULL, ssz, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (RS.p == MAP_FAILED || stk == MAP_FAILED)
		return -ENOMEM;
	memcpy(RS.p, ck, len);
	RS.len = len;
	RS.lo = lo;
	memcpy(&W.ck, RS.p + 8, sizeof(ucontext_t));
	W.restored_rc = rc;
	W.is_worker = 0;
	getcontext(&RS.tramp);
	RS.tramp.uc_stack.ss_sp = stk;
	RS.tramp.uc_stack.ss_size = ssz;
	RS.tramp.uc_link = NULL;
	makecontext(&RS.tramp, restore_main, 0);
	setcontext(&RS.tramp);
	return -errno;
}

/* see remote_int.h */
void
remote_worker_main(void)
{
	size_t stksz;
	void *stk;

	worker_reserve();
	if (net_wctl_attach(&W.ctl, NET_WFD_CTL))
		_exit(1);
	if (!R)
		worker_fail("out of memory");
	W.is_worker = 1;
	W.c.fd = NET_WFD_SOCK;
	W.c.tx_seq = W.ctl.shared->tx_seq;
	W.c.rx_seq = W.ctl.shared->rx_seq;
	if (net_crypto_init())
		worker_fail("cannot set libsodium up");
	net_wctl_keys_take(W.ctl.shared, &W.c);
	W.c.shared_seq = &W.ctl.shared->tx_seq;
	W.c.timeout_ms = 600000;
	W.zero = worker_mmap(2 * PAGE);	/* a zero page, a scratch page */
	net_page_hash(W.zero, W.zero_hash);
	if (is_fd_named(NET_WFD_CACHE, "/memfd:det-cache"))
		net_cache_attach(&W.cache, NET_WFD_CACHE);
	W.frame = worker_mmap(NET_MAX_FRAME);
	W.zbuf = worker_mmap(NET_MAX_PAGES * PAGE);
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
	if (space_worker_prepare() ||
	    lazy_prepare(W.cache.slots ? NET_WFD_CACHE : -1))
		worker_fail("cannot prepare the sandbox");
	W.ctl.shared->t_main = mono_ns();
	worker_begin();
	/* Small frames (NEED, FAULT, END, BARRIER) after bulk ones go at
	 * once, not after the client's delayed ACK (40 ms a barrier).  With
	 * a lazy image too: the paging process and detd take turns on the
	 * connection by protocol (lazy_stop; detd waits for the paging
	 * process's end), not by the delay. */
	setsockopt(W.c.fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
		   sizeof(int));
	populate_start((const uint64_t (*)[2])W.reg, W.nreg,
		       lazy_ranges(), W.nlazy);
	worker_pages();
	populate_stop();
	W.ctl.shared->t_image = mono_ns();
	stk = worker_fn_stack(&stksz);
	getcontext(&W.uc);
	W.uc.uc_stack.ss_sp = stk;
	W.uc.uc_stack.ss_size = stksz;
	W.uc.uc_link = NULL;
	makecontext(&W.uc, worker_run, 0);
	/* No frame made before returns (this function never does). */
	if (W.fs_lo)
		canary_set(W.canary);
	setcontext(&W.uc);
	worker_fail("cannot switch stacks");
}
