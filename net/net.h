/*
 * net.h -- remote spaces: the wire protocol of detd (net/PROTOCOL.md),
 * authentication, and the identity of a program (what a node checks
 * before it runs anything).
 *
 * Every call returns 0 (or a count) or a negative errno; none of them
 * logs: the caller (detd, libdet) says what failed and where.  Errors
 * that mean "the peer broke the protocol" are -EPROTO (bad magic,
 * version, type, flags or field), -EMSGSIZE (a length over its limit),
 * -EBADMSG (a frame out of sequence: replayed, dropped or reordered),
 * -EKEYREJECTED (a frame whose tag is wrong: altered, injected or
 * reflected on the way), -EPROTONOSUPPORT (the peer speaks another
 * protocol version), -EPIPE (the peer closed, possibly mid-frame),
 * -ETIMEDOUT, -EACCES (authentication failed).
 */
#ifndef NET_NET_H
#define NET_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define NET_MAGIC	0x4e544544u	/* "DETN" little endian */
#define NET_VERSION	2		/* 2: frames carry tags */
#define NET_HDR_LEN	16
#define NET_KEY_LEN	32		/* crypto_auth_KEYBYTES */
#define NET_TAG_LEN	16		/* crypto_onetimeauth_BYTES */
#define NET_NONCE_LEN	32
#define NET_MAC_LEN	32		/* crypto_auth_BYTES */
#define NET_PAGE	4096u
#define NET_MAX_PAGES	256u		/* pages per PAGES/DIRTY frame */
#define NET_MAX_FRAME	(NET_MAX_PAGES * NET_PAGE + 64)
#define NET_MAX_STR	4096u		/* a path, an argument */
#define NET_MAX_LIBS	256u
#define NET_MAX_ARGS	4096u
#define NET_MAX_SPAWN	(1u << 20)
#define NET_MAX_TEXT	256u		/* ERROR frames */
#define NET_MAX_REGIONS	4096u
#define NET_MAX_HASHES	8192u		/* hashes per HASHES frame */

/* Frame types (net/PROTOCOL.md lists who sends which, and when). */
enum net_type {
	NET_HELLO = 1,		/* c->s: client nonce */
	NET_CHALLENGE,		/* s->c: server nonce, server MAC */
	NET_AUTH,		/* c->s: client MAC */
	NET_AUTH_OK,		/* s->c: empty */
	NET_ERROR,		/* either: one line of text, then close */
	NET_PING,		/* c->s: up to 64 bytes, echoed */
	NET_PONG,		/* s->c */
	NET_SPAWN,		/* c->s: program identity (struct net_spawn) */
	NET_SPAWN_OK,		/* s->c: a worker runs the program */
	NET_BEGIN,		/* c->w: layout hash, regions */
	NET_PAGES,		/* c->w: addr + whole pages */
	NET_HASHES,		/* c->w: addr + xxh3-128 per page */
	NET_NEED,		/* w->c: bitmap of hashes not in the cache */
	NET_GO,			/* c->w: fn, arg: run */
	NET_DIRTY,		/* w->c: addr + whole pages the child wrote */
	NET_END,		/* w->c: fn returned (exit code) */
	NET_OUTPUT,		/* s->c: fd (1 or 2) + bytes */
	NET_STATUS,		/* s->c: how the worker ended; last frame */
	NET_PAGESZ,		/* c->w: addr, npages, lz4 of the pages */
	NET_LAZY,		/* w->c: the ranges that will come lazily */
	NET_FAULT,		/* w->c: addr of a page the child touched */
	NET_LAZY_END,		/* both: stop paging (w), last page sent (c) */
	NET_BARRIER,		/* w->c: the child is at det_barrier */
	NET_RESUME,		/* c->w: barrier result, the fresh snapshot */
	NET_FNSTACK,		/* c->w: where fn's stack must be */
	NET_CHECKPOINT,		/* w->c: fn's registers, stack at a barrier */
	NET_TYPE_MAX
};

/* A frame header as parsed (all fields little endian on the wire). */
struct net_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t type;
	uint16_t flags;		/* 0 */
	uint32_t seq;		/* per direction, from 0 */
	uint32_t len;		/* payload bytes that follow */
};

/* How frames are tagged (PROTOCOL.md "Frame tags"): chosen in the
 * handshake -- the client offers AES-GCM with NET_FLAG_GCM in HELLO's
 * header flags when its CPU can, detd answers the same bit in
 * CHALLENGE's when it takes it. */
enum net_tag_kind {
	NET_TAG_POLY1305 = 0,	/* Poly1305, one-time key by ChaCha20 */
	NET_TAG_AESGCM = 1,	/* AES-256-GCM, the payload as its AD */
};
#define NET_FLAG_GCM	1u

/* A frame's tag being computed (net_tag.c).  Poly1305: libsodium's
 * state in st.  AES-GCM (one shot: libsodium has no streaming GCM): the
 * header and the payload's first 16 bytes gathered in m, the rest of
 * the payload one contiguous piece (ad) -- bad when it came in more. */
struct net_tag {
	unsigned char st[256] __attribute__((aligned(16)));
	unsigned kind;
	int bad;
	const uint8_t *key;
	uint8_t m[NET_HDR_LEN + 16];
	size_t mlen;
	const uint8_t *ad;
	size_t adlen;
};

/* The session keys of a connection, one per direction, derived from K
 * and both handshake nonces (net_session_keys), and how they tag. */
struct net_keys {
	uint8_t tx[NET_KEY_LEN];	/* frames this side sends */
	uint8_t rx[NET_KEY_LEN];	/* frames it receives */
	uint32_t kind;			/* enum net_tag_kind */
};

/* One direction-numbered connection.  Invariants: tx_seq/rx_seq count
 * the frames sent/received so far on this connection; when keyed (from
 * AUTH_OK on), every frame carries a tag under k, and rx_left payload
 * bytes of the frame being received (whose tag so far is rx_tag) are
 * still to come. */
struct net_conn {
	int fd;
	uint32_t tx_seq;
	uint32_t rx_seq;
	int timeout_ms;		/* per read/write wait; <= 0: none */
	uint32_t *shared_seq;	/* NULL, or where to mirror tx_seq */
	int keyed;
	uint8_t peer_version;	/* after -EPROTONOSUPPORT: the peer's */
	uint32_t rx_left;
	struct net_keys k;
	struct net_tag rx_tag;
};

/* Largest payload a frame of `type` may carry; 0 for unknown types. */
uint32_t net_max_len(unsigned type);

/* Parse NET_HDR_LEN bytes at buf into *h and check them: magic,
 * version, known type, flags 0 (HELLO, CHALLENGE: NET_FLAG_GCM or 0),
 * seq == want_seq, len within the type's limit.  0, -EPROTO,
 * -EPROTONOSUPPORT (h->version is the peer's), -EMSGSIZE or -EBADMSG.
 * Pure: the fuzz target. */
int net_hdr_parse(const uint8_t *buf, struct net_hdr *h, uint32_t want_seq);

/* Send one frame whose payload is the iovecs (at most 6; total <= the
 * limit), with its tag when c is keyed.  0 or -errno (-EOVERFLOW: the
 * connection has sent 2^32 - 1 frames, its last). */
int net_sendv(struct net_conn *c, unsigned type, const struct iovec *iov,
	      int iovcnt);
int net_send(struct net_conn *c, unsigned type, const void *p, size_t len);
/* net_send with header flags (the handshake's NET_FLAG_GCM). */
int net_send_flags(struct net_conn *c, unsigned type, unsigned flags,
		   const void *p, size_t len);

/* Receive a frame header (checked as net_hdr_parse does), then its
 * payload with net_recv_body (exactly h->len bytes, in pieces if the
 * caller wants).  On a keyed connection the piece that completes the
 * payload also reads and checks the frame's tag (-EKEYREJECTED): the
 * pieces before it are unauthenticated until then, so a caller acts on
 * none of a frame before its last piece returned 0.  0 or -errno.
 * net_recv does both into buf (cap bytes; a longer payload is
 * -EMSGSIZE). */
int net_recv_hdr(struct net_conn *c, struct net_hdr *h);
int net_recv_body(struct net_conn *c, void *buf, size_t len);
int net_recv(struct net_conn *c, struct net_hdr *h, void *buf, size_t cap);

/* Read exactly / write exactly len bytes on fd, waiting at most
 * timeout_ms for each step.  0, -EPIPE (EOF), -ETIMEDOUT or -errno. */
int net_read_full(int fd, void *buf, size_t len, int timeout_ms);
int net_write_full(int fd, const struct iovec *iov, int iovcnt,
		   int timeout_ms);
/* Wait for the first byte on fd without taking it: 0, or -EPIPE when
 * the peer closed first, -ETIMEDOUT. */
int net_read_peek(int fd, int timeout_ms);

/* "host:port" or "[v6]:port" -> a connected TCP socket (CLOEXEC,
 * TCP_NODELAY) within timeout_ms.  fd or -errno (-EINVAL: bad text). */
int net_connect(const char *hostport, int timeout_ms);
/* The same text -> a listening socket (port 0: any free one). */
int net_listen(const char *hostport);
/* The same text, a host name resolved: "a.b.c.d:port" or "[v6]:port"
 * (its first IPv4 address, else its first) into out.  0, -EINVAL (bad
 * text or unknown name), -E2BIG (out too small). */
int net_numeric(const char *hostport, char *out, size_t len);
/* The next node of a node list (*pos: where to go on; file: a hostfile,
 * one node a line whose first word counts, '#' starting a comment, else
 * a comma-separated list; blanks around a node are not part of it).
 * Sets *node and returns its length, or 0 at the end. */
size_t net_nodes_next(const char **pos, int file, const char **node);

/* Keys: 32 random bytes in a file of mode 0600.  net_key_gen refuses
 * to overwrite (-EEXIST).  net_key_load refuses a file of the wrong
 * size (-EINVAL) or readable by group/others (-EPERM). */
int net_key_gen(const char *path);
int net_key_load(const char *path, uint8_t key[NET_KEY_LEN]);

/* Mutual challenge-response (HMAC-SHA512-256 over both fresh nonces);
 * see PROTOCOL.md.  0 with c keyed (its session keys derived), or
 * -EACCES when the peer does not know the key, or a protocol error.
 * The server sends NET_ERROR before -EACCES and -EPROTONOSUPPORT. */
int net_auth_client(struct net_conn *c, const uint8_t key[NET_KEY_LEN]);
int net_auth_server(struct net_conn *c, const uint8_t key[NET_KEY_LEN]);
/* How detd's ERROR frame for a client of another version begins. */
#define NET_VERSION_TEXT	"protocol version mismatch"
/* Set libsodium up (its fastest implementations for this CPU) without
 * touching getrandom(2): in a det program before its first connection.
 * 0 or -EIO. */
int net_crypto_init(void);

/* Frame tags (net_tag.c).  The session keys of the client (server 0)
 * or detd (server 1) from K, the handshake's nonces nc, ns and the tag
 * kind chosen (a kind changed on the way gives other keys): one key per
 * direction, so a frame reflected back fails its tag. */
void net_session_keys(const uint8_t key[NET_KEY_LEN], const uint8_t *nc,
		      const uint8_t *ns, unsigned kind, int server,
		      struct net_keys *out);
/* 1 when this CPU can tag with AES-GCM (AES-NI, PCLMUL; after
 * net_crypto_init or sodium_init) and it is not turned off
 * (net_tag_gcm_off). */
int net_tag_gcm_ok(void);
/* Never offer or take AES-GCM in this process (DET_NET_TAG=poly1305). */
void net_tag_gcm_off(void);
/* The tag of a frame over its header (NET_HDR_LEN bytes, with its seq)
 * and payload, under the direction's key: Poly1305 with a one-time key
 * ChaCha20 makes from the key and the seq, or AES-256-GCM with the seq
 * as nonce.  begin, update for each payload piece in order, then final
 * (or check: 0, or -EKEYREJECTED when got is not the tag, constant
 * time).  AES-GCM takes the bytes after the payload's 16th in a single
 * update (-EINVAL from check, bad set, otherwise); they must stay in
 * place until final. */
void net_tag_begin(struct net_tag *t, unsigned kind,
		   const uint8_t key[NET_KEY_LEN], const uint8_t *hdr);
void net_tag_update(struct net_tag *t, const void *p, size_t len);
void net_tag_final(struct net_tag *t, uint8_t out[NET_TAG_LEN]);
int net_tag_check(struct net_tag *t, const uint8_t got[NET_TAG_LEN]);
/* Make c keyed with keys k (a process that continues a connection:
 * detd's worker, the proxy). */
void net_conn_key(struct net_conn *c, const struct net_keys *k);
/* Wipe keys (sodium_memzero). */
void net_keys_wipe(struct net_keys *k);

/* The identity of a program that a node checks before running it. */
struct net_lib {
	const char *path;
	uint8_t hash[16];	/* xxh3-128 of the file */
};
struct net_spawn {
	const char *exe;
	uint8_t exe_hash[16];
	uint32_t cpu[5];	/* cpuid 1 ecx/edx, 7.0 ebx/ecx/edx */
	uint32_t nlibs;
	struct net_lib libs[NET_MAX_LIBS];
	uint32_t argc, envc;
	const char *argv[NET_MAX_ARGS + 1];
	const char *envp[NET_MAX_ARGS + 1];
	const char *cwd;	/* the worker runs there */
	const char *execfn;	/* the path the client was exec'd with (its
				   stack layout depends on its length) */
};

/* Encode s into buf (cap bytes); bytes used or -EMSGSIZE. */
long net_spawn_encode(const struct net_spawn *s, uint8_t *buf, size_t cap);
/* Decode a SPAWN payload; strings point into buf, which must have one
 * spare byte after len (strings are NUL-terminated in place).
 * 0 or -EPROTO/-EMSGSIZE.  Pure: the fuzz target. */
int net_spawn_decode(uint8_t *buf, size_t len, struct net_spawn *s);

/* This machine's CPU features (as in net_spawn.cpu). */
void net_cpu_features(uint32_t cpu[5]);
/* 1 when every feature in need is in have. */
int net_cpu_covers(const uint32_t have[5], const uint32_t need[5]);
/* xxh3-128 of a file's bytes into out; 0 or -errno. */
int net_file_hash(const char *path, uint8_t out[16]);
/* Check s against this machine: the files exist with the same hashes,
 * the CPU has the features.  0, or -errno with why[] saying what. */
int net_spawn_check(const struct net_spawn *s, char *why, size_t len);

/* The node's page cache (net_cache.c).  Invariant: a slot's page is
 * read only while its sequence count is even and unchanged. */
struct net_slot;
struct net_cache {
	struct net_slot *slots;	/* the index */
	uint8_t *pages;		/* nslots pages */
	int fd;			/* the cache file */
	size_t nslots;
	size_t len;
};
/* xxh3-128 of one page. */
void net_page_hash(const void *page, uint8_t out[16]);
/* detd: a cache file of about bytes; its fd or -errno. */
int net_cache_create(size_t bytes);
/* Map the cache file fd.  0 or -errno. */
int net_cache_attach(struct net_cache *c, int fd);
/* 1 and the page in out when the cache has a page with this hash;
 * else 0 (out clobbered). */
int net_cache_get(const struct net_cache *c, const uint8_t hash[16],
		  void *out);
/* File page under its hash (which the caller computed). */
void net_cache_put(struct net_cache *c, const uint8_t hash[16],
		   const void *page);

/* Parse a NET_LAZY payload: (u64 lo, u64 hi) ranges, page aligned,
 * non-empty, ascending and disjoint, at most max.  Their number into *n,
 * the ranges into out.  0 or -EPROTO/-EMSGSIZE.  Pure: a fuzz target. */
int net_ranges_parse(const uint8_t *p, size_t len, uint64_t (*out)[2],
		     size_t max, size_t *n);

/* Parse a NET_RESUME payload: i32 rc, u32 n, n x (u64 lo, u64 hi) with
 * 2 <= n <= max: regions 0 and 1 (the allocator's state, the stack)
 * non-empty, the others as net_ranges_parse's.  rc into *rc, the
 * regions into out, n into *n.  0 or -EPROTO/-EMSGSIZE.  Pure: a fuzz
 * target. */
int net_resume_parse(const uint8_t *p, size_t len, int32_t *rc,
		     uint64_t (*out)[2], size_t max, size_t *n);

/* Stack bytes a CHECKPOINT carries at most (a deeper stack: none). */
#define NET_MAX_CKPT	(256u << 10)

/* BEGIN flags. */
#define NET_BEGIN_LAZY	1u	/* the worker answers LAZY; pages of those
				   ranges come while the child runs */

/* SPAWN_OK flags. */
#define NET_OK_CACHE	1u	/* send HASHES first: the node has a cache */

#endif /* NET_NET_H */
