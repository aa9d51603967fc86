/*
 * net_proto.c -- framing of the detd protocol (net/PROTOCOL.md): a
 * 16-byte header (magic, version, type, flags, sequence number, length)
 * then the payload, then (after the handshake) a 16-byte tag over both
 * (net_tag.c).  Every length is checked against its type's limit
 * before anything is read into memory; a frame out of sequence is
 * refused (replayed, dropped or reordered), and so is a frame whose tag
 * is wrong (altered or forged on the way).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

/* see net.h */
uint32_t
net_max_len(unsigned type)
{
	switch (type) {
	case NET_HELLO:
		return NET_NONCE_LEN;
	case NET_CHALLENGE:
		return NET_NONCE_LEN + NET_MAC_LEN;
	case NET_AUTH:
		return NET_MAC_LEN;
	case NET_AUTH_OK:
		return 0;
	case NET_SPAWN_OK:
		return 4;
	case NET_ERROR:
		return NET_MAX_TEXT;
	case NET_PING:
	case NET_PONG:
		return 64;
	case NET_SPAWN:
		return NET_MAX_SPAWN;
	case NET_BEGIN:
		return 32 + NET_MAX_REGIONS * 16;
	case NET_PAGES:
	case NET_DIRTY:
		return 8 + NET_MAX_PAGES * NET_PAGE;
	case NET_HASHES:
		return 8 + NET_MAX_HASHES * 16;
	case NET_NEED:
		return 8 + NET_MAX_HASHES / 8;
	case NET_GO:
		return 16 + 95;
	case NET_END:
		return 8 + 1024 * 16;
	case NET_OUTPUT:
		return 4 + NET_MAX_PAGES * NET_PAGE;
	case NET_STATUS:
		return 8 + NET_MAX_TEXT;
	case NET_LAZY:
		return NET_MAX_REGIONS * 16;
	case NET_FAULT:
		return 8;
	case NET_LAZY_END:
		return 0;
	case NET_BARRIER:
		return 8 + 1024 * 16;
	case NET_RESUME:
		return 8 + NET_MAX_REGIONS * 16;
	case NET_FNSTACK:
		return 24;
	case NET_CHECKPOINT:	/* u64 lo, a ucontext_t (< 4 KiB), bytes */
		return 8 + 4096 + NET_MAX_CKPT;
	case NET_PAGESZ:	/* lz4's bound for 1 MiB, rounded up */
		return 16 + NET_MAX_PAGES * NET_PAGE +
		       NET_MAX_PAGES * NET_PAGE / 255 + 16;
	default:
		return 0;
	}
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* see net.h */
int
net_hdr_parse(const uint8_t *buf, struct net_hdr *h, uint32_t want_seq)
{
	h->magic = get32(buf);
	h->version = buf[4];
	h->type = buf[5];
	h->flags = (uint16_t)(buf[6] | buf[7] << 8);
	h->seq = get32(buf + 8);
	h->len = get32(buf + 12);
	if (h->magic != NET_MAGIC)
		return -EPROTO;
	if (h->version != NET_VERSION)
		return -EPROTONOSUPPORT;
	if (h->type == 0 || h->type >= NET_TYPE_MAX)
		return -EPROTO;
	if (h->flags != 0 && !(h->flags == NET_FLAG_GCM &&
	    (h->type == NET_HELLO || h->type == NET_CHALLENGE)))
		return -EPROTO;
	if (h->seq != want_seq)
		return -EBADMSG;
	if (h->len > net_max_len(h->type))
		return -EMSGSIZE;
	return 0;
}

/* Wait until fd is ready for events; 0, -ETIMEDOUT or -errno. */
static int
net_wait(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	if (timeout_ms <= 0)
		return 0;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

/* net_read_full, adding what arrives to tag t (when not NULL) while it
 * is still in the cache. */
static int
read_tagged(int fd, void *buf, size_t len, int timeout_ms, struct net_tag *t)
{
	uint8_t *p = buf;
	ssize_t n;
	int err;

	while (len) {
		err = net_wait(fd, POLLIN, timeout_ms);
		if (err)
			return err;
		n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ECONNRESET ? -EPIPE : -errno;
		if (n == 0)
			return -EPIPE;
		if (t)
			net_tag_update(t, p, (size_t)n);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* see net.h */
int
net_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	return read_tagged(fd, buf, len, timeout_ms, NULL);
}

/* see net.h */
int
net_write_full(int fd, const struct iovec *iov_in, int iovcnt, int timeout_ms)
{
	struct iovec iov[8];
	struct msghdr mh = { .msg_iov = iov };
	ssize_t n;
	int err, i = 0;

	if (iovcnt > 8 || iovcnt < 0)
		return -EINVAL;
	memcpy(iov, iov_in, sizeof(*iov) * (size_t)iovcnt);
	while (i < iovcnt) {
		if (iov[i].iov_len == 0) {
			i++;
			continue;
		}
		err = net_wait(fd, POLLOUT, timeout_ms);
		if (err)
			return err;
		mh.msg_iov = iov + i;
		mh.msg_iovlen = (size_t)(iovcnt - i);
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ECONNRESET ? -EPIPE : -errno;
		while (n > 0 && i < iovcnt) {
			size_t k = (size_t)n < iov[i].iov_len ?
				   (size_t)n : iov[i].iov_len;

			iov[i].iov_base = (uint8_t *)iov[i].iov_base + k;
			iov[i].iov_len -= k;
			n -= (ssize_t)k;
			if (iov[i].iov_len == 0)
				i++;
		}
	}
	return 0;
}

/* see net.h */
int
net_read_peek(int fd, int timeout_ms)
{
	uint8_t b;
	ssize_t n;
	int err = net_wait(fd, POLLIN, timeout_ms);

	if (err)
		return err;
	do
		n = recv(fd, &b, 1, MSG_PEEK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;
	return n == 0 ? -EPIPE : 0;
}

/* net_sendv with header flags. */
static int
sendv_flags(struct net_conn *c, unsigned type, unsigned flags,
	    const struct iovec *iov, int iovcnt)
{
	uint8_t hdr[NET_HDR_LEN], tag[NET_TAG_LEN];
	struct net_tag t;
	struct iovec v[8];
	size_t len = 0;
	int i, err;

	if (iovcnt > 6 || iovcnt < 0)
		return -EINVAL;
	for (i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (type == 0 || type >= NET_TYPE_MAX || len > net_max_len(type))
		return -EMSGSIZE;
	if (c->tx_seq == UINT32_MAX)
		return -EOVERFLOW;	/* a seq, and so a frame key, again */
	put32(hdr, NET_MAGIC);
	hdr[4] = NET_VERSION;
	hdr[5] = (uint8_t)type;
	hdr[6] = (uint8_t)flags;
	hdr[7] = (uint8_t)(flags >> 8);
	put32(hdr + 8, c->tx_seq);
	put32(hdr + 12, (uint32_t)len);
	v[0].iov_base = hdr;
	v[0].iov_len = sizeof(hdr);
	memcpy(v + 1, iov, sizeof(*iov) * (size_t)iovcnt);
	if (c->keyed) {
		net_tag_begin(&t, c->k.kind, c->k.tx, hdr);
		for (i = 0; i < iovcnt; i++)
			net_tag_update(&t, iov[i].iov_base, iov[i].iov_len);
		net_tag_final(&t, tag);
		if (t.bad)
			return -EINVAL;	/* GCM: the bulk in one iovec */
		v[++iovcnt].iov_base = tag;
		v[iovcnt].iov_len = sizeof(tag);
	}
	err = net_write_full(c->fd, v, iovcnt + 1, c->timeout_ms);
	if (err)
		return err;
	c->tx_seq++;
	if (c->shared_seq)
		*c->shared_seq = c->tx_seq;
	return 0;
}

/* see net.h */
int
net_sendv(struct net_conn *c, unsigned type, const struct iovec *iov,
	  int iovcnt)
{
	return sendv_flags(c, type, 0, iov, iovcnt);
}

/* see net.h */
int
net_send(struct net_conn *c, unsigned type, const void *p, size_t len)
{
	struct iovec v = { .iov_base = (void *)p, .iov_len = len };

	return sendv_flags(c, type, 0, &v, len ? 1 : 0);
}

/* see net.h */
int
net_send_flags(struct net_conn *c, unsigned type, unsigned flags,
	       const void *p, size_t len)
{
	struct iovec v = { .iov_base = (void *)p, .iov_len = len };

	return sendv_flags(c, type, flags, &v, len ? 1 : 0);
}

/* The frame being received is complete: read its tag and check it.
 * 0, -EKEYREJECTED, or a read error. */
static int
rx_tag_check(struct net_conn *c)
{
	uint8_t got[NET_TAG_LEN];
	int err;

	err = net_read_full(c->fd, got, sizeof(got), c->timeout_ms);
	return err ? err : net_tag_check(&c->rx_tag, got);
}

/* see net.h */
int
net_recv_hdr(struct net_conn *c, struct net_hdr *h)
{
	uint8_t buf[NET_HDR_LEN];
	int err;

	err = net_read_full(c->fd, buf, sizeof(buf), c->timeout_ms);
	if (err)
		return err;
	err = net_hdr_parse(buf, h, c->rx_seq);
	if (err == -EPROTONOSUPPORT)
		c->peer_version = h->version;
	if (err)
		return err;
	c->rx_seq++;
	if (!c->keyed)
		return 0;
	net_tag_begin(&c->rx_tag, c->k.kind, c->k.rx, buf);
	c->rx_left = h->len;
	return h->len ? 0 : rx_tag_check(c);
}

/* see net.h */
int
net_recv_body(struct net_conn *c, void *buf, size_t len)
{
	int err, gcm;

	if (!c->keyed)
		return net_read_full(c->fd, buf, len, c->timeout_ms);
	if (len > c->rx_left || (len == 0 && c->rx_left))
		return -EPROTO;		/* not this frame's payload */
	if (len == 0)
		return 0;	/* a frame without payload: checked */
	/* Poly1305 takes the bytes as they arrive (still in the cache);
	 * GCM the whole piece at once. */
	gcm = c->k.kind == NET_TAG_AESGCM;
	err = read_tagged(c->fd, buf, len, c->timeout_ms,
			  gcm ? NULL : &c->rx_tag);
	if (err)
		return err;
	if (gcm)
		net_tag_update(&c->rx_tag, buf, len);
	c->rx_left -= (uint32_t)len;
	return c->rx_left ? 0 : rx_tag_check(c);
}

/* see net.h */
int
net_recv(struct net_conn *c, struct net_hdr *h, void *buf, size_t cap)
{
	int err = net_recv_hdr(c, h);

	if (err)
		return err;
	if (h->len > cap)
		return -EMSGSIZE;
	return net_recv_body(c, buf, h->len);
}

/* see net.h */
int
net_ranges_parse(const uint8_t *p, size_t len, uint64_t (*out)[2],
		 size_t max, size_t *n)
{
	uint64_t lo, hi, prev = 0;
	size_t i;

	if (len % 16)
		return -EPROTO;
	if (len / 16 > max)
		return -EMSGSIZE;
	for (i = 0; i < len / 16; i++) {
		memcpy(&lo, p + i * 16, 8);
		memcpy(&hi, p + i * 16 + 8, 8);
		if (lo % NET_PAGE || hi % NET_PAGE || lo >= hi ||
		    (i && lo < prev))
			return -EPROTO;
		out[i][0] = lo;
		out[i][1] = hi;
		prev = hi;
	}
	*n = len / 16;
	return 0;
}
