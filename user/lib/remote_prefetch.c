/*
 * remote_prefetch.c -- the proxy's side of lazy paging (detrun --lazy;
 * net/PROTOCOL.md "Lazy paging"): after GO, while fn runs on the node,
 * send the pages of the lazy ranges.  A FAULT (a page fn waits for)
 * jumps the queue: that page and the next ones not sent yet go at once,
 * and the background stream continues after them, in address order,
 * wrapping around to what it skipped.  With a node cache the stream
 * offers pages by hash first (HASHES, then the NEED answer), as the
 * eager image does.  Ends when the worker says LAZY_END (fn ended) and
 * the proxy has answered LAZY_END.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "net.h"
#include "remote_int.h"

#define PF_SENT		1u	/* sent as PAGES */
#define PF_OFFERED	2u	/* offered by hash */
#define PF_CLUSTER	16	/* pages sent for one fault */
#define PF_HASHES	2048	/* pages per HASHES offer */
#define PF_OFFERS	4	/* HASHES offers awaiting their NEED */

struct pf {
	struct net_conn *c;
	const uint64_t (*r)[2];	/* the lazy ranges */
	size_t n;
	uint64_t npages;
	uint8_t *st;		/* PF_* per page */
	uint64_t done;		/* pages sent or offered */
	uint64_t cur;		/* the stream's next page */
	int hashes;		/* offer by hash first */
	struct { uint64_t addr, n; } off[PF_OFFERS];
	unsigned noff, off0;
	uint8_t *hbuf;		/* PF_HASHES hashes */
};

/* The address of lazy page k. */
static uint64_t
pf_addr(const struct pf *p, uint64_t k)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		uint64_t np = (p->r[i][1] - p->r[i][0]) / PAGE;

		if (k < np)
			return p->r[i][0] + k * PAGE;
		k -= np;
	}
	return 0;
}

/* The lazy page at a (page aligned), or -1; *end: the index one past
 * its range. */
static long
pf_index(const struct pf *p, uint64_t a, uint64_t *end)
{
	uint64_t base = 0;
	size_t i;

	for (i = 0; i < p->n; i++) {
		uint64_t np = (p->r[i][1] - p->r[i][0]) / PAGE;

		if (a >= p->r[i][0] && a < p->r[i][1] && a % PAGE == 0) {
			*end = base + np;
			return (long)(base + (a - p->r[i][0]) / PAGE);
		}
		base += np;
	}
	return -1;
}

/* Send up to max pages not sent yet from page k on (within its range,
 * stopping at a page already sent); the index after them.  0/-errno in
 * *err. */
static uint64_t
pf_send_run(struct pf *p, uint64_t k, uint64_t max, int *err)
{
	uint64_t a = pf_addr(p, k), end, j;

	*err = 0;
	pf_index(p, a, &end);
	for (j = k; j < end && j - k < max && !(p->st[j] & PF_SENT); j++) {
		if (!(p->st[j] & PF_OFFERED))
			p->done++;
		p->st[j] |= PF_SENT;
	}
	if (j > k)
		*err = remote_send_pages(p->c, a, a + (j - k) * PAGE);
	return j;
}

/* FAULT: that page and those after it, now; the stream goes on after
 * them. */
static int
pf_fault(struct pf *p, const uint8_t *frame, uint32_t len)
{
	uint64_t a, end;
	long k;
	int err;

	if (len != 8)
		return -EPROTO;
	memcpy(&a, frame, 8);
	k = pf_index(p, a, &end);
	if (k < 0)
		return -EPROTO;
	if (p->st[k] & PF_SENT)
		return 0;	/* on its way */
	p->cur = pf_send_run(p, (uint64_t)k, PF_CLUSTER, &err);
	return err;
}

/* 1 when page j of the offer at lazy page k is in the NEED bitmap and
 * not sent yet. */
static int
pf_wanted(const struct pf *p, const uint8_t *frame, uint64_t k, uint64_t j)
{
	return (frame[8 + j / 8] >> (j % 8) & 1) && !(p->st[k + j] & PF_SENT);
}

/* NEED for the oldest offer: send the pages the node lacks. */
static int
pf_need(struct pf *p, const uint8_t *frame, uint32_t len)
{
	uint64_t a, n, j, m, end;
	long k;
	int err = 0;

	if (!p->noff)
		return -EPROTO;
	a = p->off[p->off0].addr;
	n = p->off[p->off0].n;
	p->off0 = (p->off0 + 1) % PF_OFFERS;
	p->noff--;
	if (len != 8 + (n + 7) / 8 || memcmp(frame, &a, 8))
		return -EPROTO;
	k = pf_index(p, a, &end);
	if (k < 0 || (uint64_t)k + n > end)
		return -EPROTO;
	for (j = 0; j < n && !err; j = m) {
		m = j + 1;
		if (!pf_wanted(p, frame, (uint64_t)k, j))
			continue;
		while (m < n && m - j < NET_MAX_PAGES &&
		       pf_wanted(p, frame, (uint64_t)k, m))
			m++;
		pf_send_run(p, (uint64_t)k + j, m - j, &err);
	}
	return err;
}

/* The next page the stream has not dealt with, from p->cur on
 * (wrapping); npages when there is none. */
static uint64_t
pf_next(struct pf *p)
{
	uint64_t k, i;

	for (i = 0; i < p->npages; i++) {
		k = (p->cur + i) % p->npages;
		if (!(p->st[k] & (PF_SENT | PF_OFFERED)))
			return k;
	}
	return p->npages;
}

/* One step of the background stream: an offer by hash or a PAGES
 * frame.  0 or -errno. */
static int
pf_step(struct pf *p)
{
	uint64_t k = pf_next(p), end, a, j;
	struct iovec v[2];
	int err;

	if (k == p->npages)
		return 0;
	if (!p->hashes) {
		p->cur = pf_send_run(p, k, NET_MAX_PAGES, &err);
		return err;
	}
	a = pf_addr(p, k);
	pf_index(p, a, &end);
	for (j = k; j < end && j - k < PF_HASHES &&
	     !(p->st[j] & (PF_SENT | PF_OFFERED)); j++) {
		net_page_hash((void *)(a + (j - k) * PAGE),
			      p->hbuf + (j - k) * 16);
		p->st[j] |= PF_OFFERED;
		p->done++;
	}
	v[0] = (struct iovec){ &a, 8 };
	v[1] = (struct iovec){ p->hbuf, (j - k) * 16 };
	err = net_sendv(p->c, NET_HASHES, v, 2);
	p->off[(p->off0 + p->noff) % PF_OFFERS].addr = a;
	p->off[(p->off0 + p->noff) % PF_OFFERS].n = j - k;
	p->noff++;
	p->cur = j;
	return err;
}

/* One frame from the worker: 1 at its LAZY_END, else 0 or -errno
 * (other: 1 ends the loop with -ECONNABORTED). */
static int
pf_frame(struct pf *p, uint8_t *frame,
	 int (*other)(const struct net_hdr *h, const uint8_t *frame,
		      void *ctx), void *ctx)
{
	struct net_hdr h;
	int err;

	err = net_recv(p->c, &h, frame, NET_MAX_FRAME);
	if (err)
		return err;
	switch (h.type) {
	case NET_FAULT:
		return pf_fault(p, frame, h.len);
	case NET_NEED:
		return pf_need(p, frame, h.len);
	case NET_LAZY_END:
		return 1;
	default:
		err = other(&h, frame, ctx);
		return err == 1 ? -ECONNABORTED : err;
	}
}

/* see remote_int.h */
int
remote_prefetch(struct net_conn *c, const uint64_t (*r)[2], size_t n,
		int hashes, uint8_t *frame,
		int (*other)(const struct net_hdr *h, const uint8_t *frame,
			     void *ctx), void *ctx)
{
	struct pf p = { .c = c, .r = r, .n = n, .hashes = hashes };
	size_t i, len;
	int err = 0;

	for (i = 0; i < n; i++)
		p.npages += (r[i][1] - r[i][0]) / PAGE;
	len = PAGE_UP(p.npages) + PF_HASHES * 16;
	p.st = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p.st == MAP_FAILED)
		return -ENOMEM;
	p.hbuf = p.st + PAGE_UP(p.npages);
	while (!err) {
		struct pollfd pl = { .fd = c->fd, .events = POLLIN };

		if (p.done < p.npages && p.noff < PF_OFFERS)
			pl.events |= POLLOUT;
		if (poll(&pl, 1, -1) < 0) {
			err = errno == EINTR ? 0 : -errno;
			continue;
		}
		if (pl.revents & (POLLIN | POLLERR | POLLHUP)) {
			err = pf_frame(&p, frame, other, ctx);
			if (err == 1) {
				err = net_send(c, NET_LAZY_END, NULL, 0);
				break;
			}
		} else if (pl.revents & POLLOUT) {
			err = pf_step(&p);
		}
	}
	munmap(p.st, len);
	return err;
}
