/*
 * check_net.c -- the wire protocol and detd (stage 1): framing limits,
 * frame tags (altered, replayed, dropped, reflected frames), SPAWN
 * payloads, keys, authentication (wrong key, replay, another protocol
 * version), and a daemon that keeps serving good clients while hostile
 * ones send garbage, oversized, truncated, replayed, out-of-sequence or
 * forged frames -- each costing only its own connection and one log
 * line.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net.h"
#include "testutil.h"

static char dir[] = "/tmp/check_net.XXXXXX";
static char keyf[256], badkeyf[256], logfile[256], detd_bin[512];
static pid_t detd_pid;
static char addr[64];

/* A free loopback port (bind to 0, read it back, close). */
static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (void *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (void *)&a, &sl), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Start detd with keyf, logging to logfile; wait until it accepts. */
static void
detd_start(void)
{
	int i, fd, lfd;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", free_port());
	detd_pid = fork();
	ck_assert_int_ge(detd_pid, 0);
	if (detd_pid == 0) {
		lfd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(lfd, 2);
		execl(detd_bin, "detd", "--listen", addr, "--key", keyf,
		      "--auth-timeout", "1000", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		fd = net_connect(addr, 1000);
		if (fd >= 0) {
			close(fd);
			return;
		}
		usleep(10000);
	}
	ck_abort_msg("detd did not start on %s", addr);
}

static void
detd_stop(void)
{
	if (detd_pid > 0) {
		kill(detd_pid, SIGTERM);
		waitpid(detd_pid, NULL, 0);
	}
	detd_pid = 0;
}

/* Lines of the detd log containing s. */
static int
log_count(const char *s)
{
	char line[1024];
	FILE *f = fopen(logfile, "r");
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, s) != NULL;
	fclose(f);
	return n;
}

/* Wait until the log has at least n lines with s (connection processes
 * log asynchronously). */
static int
log_wait(const char *s, int n)
{
	int i;

	for (i = 0; i < 300 && log_count(s) < n; i++)
		usleep(10000);
	return log_count(s);
}

static int
connect_auth(const char *kf, struct net_conn *c)
{
	uint8_t key[NET_KEY_LEN];

	memset(c, 0, sizeof(*c));
	c->timeout_ms = 3000;
	ck_assert_int_eq(net_key_load(kf, key), 0);
	c->fd = net_connect(addr, 2000);
	ck_assert_int_ge(c->fd, 0);
	return net_auth_client(c, key);
}

static void
ping_ok(struct net_conn *c)
{
	uint8_t buf[64];
	struct net_hdr h;

	ck_assert_int_eq(net_send(c, NET_PING, "hello", 5), 0);
	ck_assert_int_eq(net_recv(c, &h, buf, sizeof(buf)), 0);
	ck_assert_int_eq(h.type, NET_PONG);
	ck_assert_int_eq(h.len, 5);
	ck_assert(memcmp(buf, "hello", 5) == 0);
}

/* The peer closed: a read returns EOF (or reset). */
static int
closed_by_peer(int fd)
{
	uint8_t b[256];
	int i;

	for (i = 0; i < 100; i++) {
		struct timeval tv = { .tv_sec = 3 };
		ssize_t n;

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		n = recv(fd, b, sizeof(b), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		if (n < 0)
			return 0;
	}
	return 0;
}

static void
setup(void)
{
	char *p;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(keyf, sizeof(keyf), "%s/key", dir);
	snprintf(badkeyf, sizeof(badkeyf), "%s/badkey", dir);
	snprintf(logfile, sizeof(logfile), "%s/detd.log", dir);
	ck_assert_int_eq(net_key_gen(keyf), 0);
	ck_assert_int_eq(net_key_gen(badkeyf), 0);
	p = getenv("DETD");
	snprintf(detd_bin, sizeof(detd_bin), "%s", p ? p : "build/bin/detd");
	ck_assert_int_eq(sodium_init() < 0, 0);
}

static void
teardown(void)
{
	char cmd[600];

	detd_stop();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* A header's bytes: the table tests build them by hand. */
static void
mkhdr(uint8_t *b, uint32_t magic, uint8_t ver, uint8_t type,
      uint16_t flags, uint32_t seq, uint32_t len)
{
	memcpy(b, &magic, 4);
	b[4] = ver;
	b[5] = type;
	memcpy(b + 6, &flags, 2);
	memcpy(b + 8, &seq, 4);
	memcpy(b + 12, &len, 4);
}

#define V	NET_VERSION

static const struct {
	uint32_t magic;
	uint8_t ver, type;
	uint16_t flags;
	uint32_t seq, len;
	int want;
} hdr_cases[] = {
	{ NET_MAGIC, V, NET_PING, 0, 0, 5, 0 },
	{ NET_MAGIC, V, NET_PING, 0, 0, 64, 0 },
	{ NET_MAGIC, V, NET_PING, 0, 0, 65, -EMSGSIZE },
	{ NET_MAGIC, V, NET_PAGES, 0, 0, 8 + 256 * 4096, 0 },
	{ NET_MAGIC, V, NET_PAGES, 0, 0, 9 + 256 * 4096, -EMSGSIZE },
	{ NET_MAGIC, V, NET_HELLO, 0, 0, 0xffffffffu, -EMSGSIZE },
	{ NET_MAGIC, V, NET_AUTH_OK, 0, 0, 1, -EMSGSIZE },
	{ NET_MAGIC ^ 1, V, NET_PING, 0, 0, 0, -EPROTO },
	{ NET_MAGIC, V + 1, NET_PING, 0, 0, 0, -EPROTONOSUPPORT },
	{ NET_MAGIC, V - 1, NET_PING, 0, 0, 0, -EPROTONOSUPPORT },
	{ NET_MAGIC, V, 0, 0, 0, 0, -EPROTO },
	{ NET_MAGIC, V, NET_TYPE_MAX, 0, 0, 0, -EPROTO },
	{ NET_MAGIC, V, NET_PING, 1, 0, 0, -EPROTO },
	{ NET_MAGIC, V, NET_HELLO, NET_FLAG_GCM, 0, 32, 0 },
	{ NET_MAGIC, V, NET_CHALLENGE, NET_FLAG_GCM, 0, 64, 0 },
	{ NET_MAGIC, V, NET_HELLO, 2, 0, 32, -EPROTO },
	{ NET_MAGIC, V, NET_AUTH, NET_FLAG_GCM, 0, 32, -EPROTO },
	{ NET_MAGIC, V, NET_PING, 0, 1, 0, -EBADMSG },
};

START_TEST(test_hdr_table)
{
	uint8_t b[NET_HDR_LEN];
	struct net_hdr h;

	mkhdr(b, hdr_cases[_i].magic, hdr_cases[_i].ver, hdr_cases[_i].type,
	      hdr_cases[_i].flags, hdr_cases[_i].seq, hdr_cases[_i].len);
	ck_assert_int_eq(net_hdr_parse(b, &h, 0), hdr_cases[_i].want);
	if (hdr_cases[_i].want == 0)
		ck_assert_uint_eq(h.len, hdr_cases[_i].len);
}
END_TEST

/* Frame tags: what the path does to the frames between a sender keyed
 * as a client after its handshake and a receiver keyed as its detd. */
enum tamper {
	T_NONE,		/* delivered as sent */
	T_HDR,		/* the type changed (to one the header check takes) */
	T_PAYLOAD,	/* one payload bit flipped */
	T_TAG,		/* one tag bit flipped */
	T_REPLAY,	/* delivered twice */
	T_REPLAY_SEQ,	/* delivered twice, the copy's seq made the next */
	T_DROP,		/* the first frame dropped */
	T_DROP_SEQ,	/* ... and the second's seq made the first's */
	T_REFLECT,	/* the receiver's own frame sent back to it */
	T_UNTAGGED,	/* from a sender without keys */
	T_EMPTY,	/* a frame without payload */
	T_EMPTY_TAG,	/* ... with one tag bit flipped */
	T_PIECES,	/* PAGES received as address, then pages */
	T_PIECES_BAD,	/* ... with the last page byte flipped */
};

static const struct {
	enum tamper how;
	int want;	/* the receiver's last net_recv* */
} tag_cases[] = {
	{ T_NONE, 0 }, { T_HDR, -EKEYREJECTED },
	{ T_PAYLOAD, -EKEYREJECTED }, { T_TAG, -EKEYREJECTED },
	{ T_REPLAY, -EBADMSG }, { T_REPLAY_SEQ, -EKEYREJECTED },
	{ T_DROP, -EBADMSG }, { T_DROP_SEQ, -EKEYREJECTED },
	{ T_REFLECT, -EKEYREJECTED }, { T_UNTAGGED, -EKEYREJECTED },
	{ T_EMPTY, 0 }, { T_EMPTY_TAG, -EKEYREJECTED },
	{ T_PIECES, 0 }, { T_PIECES_BAD, -EKEYREJECTED },
};

/* Take n bytes the test's side of a socket pair holds. */
static void
grab(int fd, uint8_t *p, size_t n)
{
	ck_assert_int_eq(net_read_full(fd, p, n, 3000), 0);
}

static void
put(int fd, const uint8_t *p, size_t n)
{
	ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Each case with Poly1305 (_i < ncases), then with AES-GCM. */
#define NTAG	(sizeof(tag_cases) / sizeof(tag_cases[0]))

START_TEST(test_tag_table)
{
	static uint8_t pages[8 + NET_PAGE], got[8 + NET_PAGE];
	static uint8_t f[2][NET_HDR_LEN + sizeof(pages) + NET_TAG_LEN];
	uint8_t key[NET_KEY_LEN], nc[NET_NONCE_LEN], ns[NET_NONCE_LEN];
	struct net_conn snd = { .timeout_ms = 3000 }, rcv = snd;
	enum tamper how = tag_cases[_i % NTAG].how;
	unsigned kind = _i < (int)NTAG ? NET_TAG_POLY1305 : NET_TAG_AESGCM;
	struct net_keys kc, ks;
	struct net_hdr h;
	size_t n = NET_HDR_LEN + 5 + NET_TAG_LEN;
	uint32_t seq;
	int a[2], b[2], r;

	ck_assert_int_eq(net_crypto_init(), 0);
	if (kind == NET_TAG_AESGCM && !net_tag_gcm_ok())
		return;		/* no AES-NI here */
	randombytes_buf(key, sizeof(key));
	randombytes_buf(nc, sizeof(nc));
	randombytes_buf(ns, sizeof(ns));
	net_session_keys(key, nc, ns, kind, 0, &kc);
	net_session_keys(key, nc, ns, kind, 1, &ks);
	ck_assert_uint_eq(kc.kind, kind);
	ck_assert(memcmp(kc.tx, ks.rx, NET_KEY_LEN) == 0);
	ck_assert(memcmp(kc.rx, ks.tx, NET_KEY_LEN) == 0);
	ck_assert(memcmp(kc.tx, kc.rx, NET_KEY_LEN) != 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	snd.fd = a[0];
	rcv.fd = b[1];
	if (how != T_UNTAGGED)
		net_conn_key(&snd, &kc);
	net_conn_key(&rcv, &ks);
	/* Two frames as the sender sends them, caught on the way. */
	if (how == T_EMPTY || how == T_EMPTY_TAG) {
		ck_assert_int_eq(net_send(&snd, NET_LAZY_END, NULL, 0), 0);
		n = NET_HDR_LEN + NET_TAG_LEN;
	} else if (how == T_PIECES || how == T_PIECES_BAD) {
		randombytes_buf(pages, sizeof(pages));
		ck_assert_int_eq(net_send(&snd, NET_PAGES, pages,
					  sizeof(pages)), 0);
		n = NET_HDR_LEN + sizeof(pages) + NET_TAG_LEN;
	} else {
		ck_assert_int_eq(net_send(&snd, NET_PING, "hello", 5), 0);
	}
	ck_assert_int_eq(net_send(&snd, NET_PING, "world", 5), 0);
	grab(a[1], f[0], how == T_UNTAGGED ? n - NET_TAG_LEN : n);
	grab(a[1], f[1], how == T_UNTAGGED ? NET_HDR_LEN + 5 :
	     NET_HDR_LEN + 5 + NET_TAG_LEN);
	switch (how) {
	case T_HDR:
		f[0][5] = NET_PONG;
		break;
	case T_PAYLOAD:
		f[0][NET_HDR_LEN + 2] ^= 1;
		break;
	case T_TAG:
	case T_EMPTY_TAG:
		f[0][n - 1] ^= 0x80;
		break;
	case T_PIECES_BAD:
		f[0][n - NET_TAG_LEN - 1] ^= 4;
		break;
	default:
		break;
	}
	if (how == T_REFLECT) {
		/* The receiver's own first frame comes back to it. */
		ck_assert_int_eq(net_send(&rcv, NET_PING, "hello", 5), 0);
		grab(b[0], f[0], n);
		put(b[0], f[0], n);
	} else if (how == T_DROP || how == T_DROP_SEQ) {
		seq = 0;
		if (how == T_DROP_SEQ)
			memcpy(f[1] + 8, &seq, 4);
		put(b[0], f[1], NET_HDR_LEN + 5 + NET_TAG_LEN);
	} else if (how == T_UNTAGGED) {
		put(b[0], f[0], n - NET_TAG_LEN);
		put(b[0], f[1], NET_HDR_LEN + 5);
	} else {
		put(b[0], f[0], n);
	}
	if (how == T_PIECES || how == T_PIECES_BAD) {
		ck_assert_int_eq(net_recv_hdr(&rcv, &h), 0);
		ck_assert_int_eq(net_recv_body(&rcv, got, 8), 0);
		r = net_recv_body(&rcv, got + 8, sizeof(got) - 8);
		if (r == 0)
			ck_assert_mem_oracle(got, pages, sizeof(pages));
	} else {
		memset(got, 0, 8);
		r = net_recv(&rcv, &h, got, sizeof(got));
		if (r == 0 && h.len)
			ck_assert(memcmp(got, "hello", 5) == 0);
	}
	if (how == T_REPLAY || how == T_REPLAY_SEQ) {
		ck_assert_int_eq(r, 0);
		seq = 1;
		if (how == T_REPLAY_SEQ)
			memcpy(f[0] + 8, &seq, 4);
		put(b[0], f[0], n);
		r = net_recv(&rcv, &h, got, sizeof(got));
	}
	ck_assert_int_eq(r, tag_cases[_i % NTAG].want);
	/* An untouched frame passes, and then the stream goes on. */
	if (r == 0 && how != T_REFLECT) {
		put(b[0], f[1], NET_HDR_LEN + 5 + NET_TAG_LEN);
		ck_assert_int_eq(net_recv(&rcv, &h, got, sizeof(got)), 0);
		ck_assert(memcmp(got, "world", 5) == 0);
	}
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}
END_TEST

/* LAZY payloads: (lo, hi) pairs in pages; the expected result. */
static const struct {
	size_t n;		/* pairs */
	uint64_t r[3][2];	/* in pages */
	int want;
} lazy_cases[] = {
	{ 0, { { 0, 0 } }, 0 },
	{ 1, { { 1, 2 } }, 0 },
	{ 3, { { 1, 2 }, { 2, 5 }, { 9, 10 } }, 0 },
	{ 1, { { 2, 2 } }, -EPROTO },			/* empty */
	{ 1, { { 3, 2 } }, -EPROTO },			/* reversed */
	{ 2, { { 1, 4 }, { 3, 5 } }, -EPROTO },		/* overlapping */
	{ 2, { { 5, 6 }, { 1, 2 } }, -EPROTO },		/* descending */
};

START_TEST(test_lazy_ranges)
{
	uint8_t b[3 * 16];
	uint64_t out[3][2], lo, hi;
	size_t i, n = 99;

	for (i = 0; i < lazy_cases[_i].n; i++) {
		lo = lazy_cases[_i].r[i][0] * NET_PAGE;
		hi = lazy_cases[_i].r[i][1] * NET_PAGE;
		memcpy(b + i * 16, &lo, 8);
		memcpy(b + i * 16 + 8, &hi, 8);
	}
	ck_assert_int_eq(net_ranges_parse(b, lazy_cases[_i].n * 16, out, 3,
					  &n), lazy_cases[_i].want);
	if (lazy_cases[_i].want == 0) {
		ck_assert_uint_eq(n, lazy_cases[_i].n);
		for (i = 0; i < n; i++)
			ck_assert_uint_eq(out[i][1],
					  lazy_cases[_i].r[i][1] * NET_PAGE);
	}
	/* Unaligned, a partial pair, more than max: refused. */
	lo = NET_PAGE + 1;
	memcpy(b, &lo, 8);
	ck_assert_int_eq(net_ranges_parse(b, 16, out, 3, &n), -EPROTO);
	ck_assert_int_eq(net_ranges_parse(b, 15, out, 3, &n), -EPROTO);
	ck_assert_int_eq(net_ranges_parse(b, 48, out, 2, &n), -EMSGSIZE);
}
END_TEST

/* RESUME payloads: the count field, (lo, hi) pairs in bytes (regions
 * 0 and 1 byte granular, the others pages); the expected result. */
static const struct {
	uint32_t cnt;		/* the u32 field */
	size_t n;		/* pairs present */
	uint64_t r[4][2];
	int want;
} resume_cases[] = {
	{ 2, 2, { { 16, 32 }, { 100, 200 } }, 0 },
	{ 4, 4, { { 16, 32 }, { 100, 200 }, { 4096, 8192 },
		  { 8192, 16384 } }, 0 },
	{ 1, 1, { { 16, 32 } }, -EPROTO },		/* no stack */
	{ 3, 2, { { 16, 32 }, { 100, 200 } }, -EPROTO },	/* short */
	{ 2, 3, { { 16, 32 }, { 100, 200 }, { 4096, 8192 } }, -EPROTO },
	{ 2, 2, { { 32, 32 }, { 100, 200 } }, -EPROTO },	/* empty */
	{ 2, 2, { { 16, 32 }, { 200, 100 } }, -EPROTO },	/* reversed */
	{ 3, 3, { { 16, 32 }, { 100, 200 }, { 4097, 8192 } }, -EPROTO },
	{ 4, 4, { { 16, 32 }, { 100, 200 }, { 8192, 12288 },
		  { 4096, 8192 } }, -EPROTO },		/* descending */
	{ 4, 4, { { 16, 32 }, { 100, 200 }, { 4096, 8192 },
		  { 12288, 16384 } }, -EMSGSIZE },	/* over max (3) */
};

START_TEST(test_resume_parse)
{
	uint8_t b[8 + 4 * 16];
	uint64_t out[4][2];
	int32_t rc = 0, in = -3;
	size_t n = 99, i;
	size_t max = _i == 9 ? 3 : 4;

	memcpy(b, &in, 4);
	memcpy(b + 4, &resume_cases[_i].cnt, 4);
	memcpy(b + 8, resume_cases[_i].r, resume_cases[_i].n * 16);
	ck_assert_int_eq(net_resume_parse(b, 8 + resume_cases[_i].n * 16,
					  &rc, out, max, &n),
			 resume_cases[_i].want);
	if (resume_cases[_i].want == 0) {
		ck_assert_int_eq(rc, -3);
		ck_assert_uint_eq(n, resume_cases[_i].n);
		for (i = 0; i < n; i++)
			ck_assert_uint_eq(out[i][1], resume_cases[_i].r[i][1]);
	}
	/* Shorter than the header, a partial pair: refused. */
	ck_assert_int_eq(net_resume_parse(b, 7, &rc, out, 4, &n), -EPROTO);
	ck_assert_int_eq(net_resume_parse(b, 8 + 2 * 16 - 1, &rc, out, 4,
					  &n), -EPROTO);
}
END_TEST

/* Node lists as data: the text, hostfile or list, and the nodes
 * net_nodes_next yields, joined by '|'. */
static const struct {
	const char *text;
	int file;
	const char *want;
} nodes_cases[] = {
	{ "a:1,b:2", 0, "a:1|b:2" },
	{ " a:1 , ,b\r,  ", 0, "a:1|b" },
	{ "[::1]:9,x", 0, "[::1]:9|x" },
	{ "", 0, "" },
	{ ",,", 0, "" },
	{ "a:1\nb slots=2\n", 1, "a:1|b" },
	{ "# nodes\n\nc:3 # one\r\nd\r\n", 1, "c:3|d" },
	{ "e#x\n  indented\n\tf\ng", 1, "e|g" },
	{ "a:1,b:2\n", 1, "a:1,b:2" },
};

START_TEST(test_nodes_table)
{
	const char *p = nodes_cases[_i].text, *node;
	char got[256] = "";
	size_t n, k = 0;

	while ((n = net_nodes_next(&p, nodes_cases[_i].file, &node))) {
		ck_assert_uint_lt(k + n + 2, sizeof(got));
		k += (size_t)snprintf(got + k, sizeof(got) - k, "%s%.*s",
				      k ? "|" : "", (int)n, node);
	}
	ck_assert_str_eq(got, nodes_cases[_i].want);
	ck_assert_uint_eq(net_nodes_next(&p, nodes_cases[_i].file, &node), 0);
}
END_TEST

/* A SPAWN payload survives encode/decode; every truncation and a
 * trailing byte are refused, never read past. */
START_TEST(test_spawn_roundtrip)
{
	static struct net_spawn s, d;
	static uint8_t buf[8192], copy[8192];
	long n, k;

	s.exe = "/bin/true";
	memset(s.exe_hash, 7, 16);
	s.cpu[2] = 0x1234;
	s.nlibs = 1;
	s.libs[0].path = "/lib/x.so";
	s.argc = 2;
	s.argv[0] = "prog";
	s.argv[1] = "arg";
	s.envc = 1;
	s.envp[0] = "A=B";
	s.cwd = "/";
	s.execfn = "./true";
	n = net_spawn_encode(&s, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	memcpy(copy, buf, (size_t)n);
	ck_assert_int_eq(net_spawn_decode(copy, (size_t)n, &d), 0);
	ck_assert_str_eq(d.exe, "/bin/true");
	ck_assert_str_eq(d.libs[0].path, "/lib/x.so");
	ck_assert_str_eq(d.argv[1], "arg");
	ck_assert_str_eq(d.envp[0], "A=B");
	ck_assert_str_eq(d.execfn, "./true");
	ck_assert_uint_eq(d.cpu[2], 0x1234);
	for (k = 0; k < n; k++) {
		memcpy(copy, buf, (size_t)n);
		ck_assert_int_ne(net_spawn_decode(copy, (size_t)k, &d), 0);
	}
	memcpy(copy, buf, (size_t)n);
	copy[n] = 0;
	ck_assert_int_ne(net_spawn_decode(copy, (size_t)n + 1, &d), 0);
	ck_assert_int_eq(net_spawn_encode(&s, buf, 10), -EMSGSIZE);
}
END_TEST

START_TEST(test_keys)
{
	uint8_t key[NET_KEY_LEN], key2[NET_KEY_LEN];
	struct stat st;
	char p[300];

	ck_assert_int_eq(stat(keyf, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(st.st_size, NET_KEY_LEN);
	ck_assert_int_eq(net_key_gen(keyf), -EEXIST);
	ck_assert_int_eq(net_key_load(keyf, key), 0);
	ck_assert_int_eq(net_key_load(badkeyf, key2), 0);
	ck_assert(memcmp(key, key2, NET_KEY_LEN) != 0);
	chmod(keyf, 0644);
	ck_assert_int_eq(net_key_load(keyf, key), -EPERM);
	snprintf(p, sizeof(p), "%s/short", dir);
	ck_assert_int_eq(system("true"), 0);
	{
		int fd = open(p, O_WRONLY | O_CREAT, 0600);

		ck_assert_int_eq(write(fd, "x", 1), 1);
		close(fd);
	}
	ck_assert_int_eq(net_key_load(p, key), -EINVAL);
}
END_TEST

START_TEST(test_auth_ping)
{
	struct net_conn c;

	detd_start();
	ck_assert_int_eq(connect_auth(keyf, &c), 0);
	/* AES-GCM where both sides can (the same machine here). */
	ck_assert_uint_eq(c.k.kind, net_tag_gcm_ok() ? NET_TAG_AESGCM :
			  NET_TAG_POLY1305);
	ping_ok(&c);
	ping_ok(&c);
	close(c.fd);
	/* A client that does not offer it gets Poly1305. */
	net_tag_gcm_off();
	ck_assert_int_eq(connect_auth(keyf, &c), 0);
	ck_assert_uint_eq(c.k.kind, NET_TAG_POLY1305);
	ping_ok(&c);
	close(c.fd);
}
END_TEST

/* A wrong key: refused, one log line, nothing else happens. */
START_TEST(test_wrong_key)
{
	struct net_conn c;

	detd_start();
	ck_assert_int_eq(connect_auth(badkeyf, &c), -EACCES);
	close(c.fd);
	ck_assert_int_eq(log_wait("authentication failed", 1), 1);
	ck_assert_int_eq(log_count("worker"), 0);
	ck_assert_int_eq(connect_auth(keyf, &c), 0);
	ping_ok(&c);
	close(c.fd);
}
END_TEST

/* HMAC as net_auth.c computes it (label padded to 8 bytes). */
static void
mac_of(uint8_t *mac, const uint8_t *key, const char *label,
       const uint8_t *a, const uint8_t *b)
{
	uint8_t msg[8 + 2 * NET_NONCE_LEN] = { 0 };

	memcpy(msg, label, strlen(label));
	memcpy(msg + 8, a, NET_NONCE_LEN);
	memcpy(msg + 8 + NET_NONCE_LEN, b, NET_NONCE_LEN);
	crypto_auth(mac, msg, sizeof(msg), key);
}

/* A recorded, valid answer replayed in a new session is refused. */
START_TEST(test_replay)
{
	uint8_t key[NET_KEY_LEN], nc[NET_NONCE_LEN], mac[NET_MAC_LEN];
	uint8_t ch[NET_NONCE_LEN + NET_MAC_LEN], ch2[sizeof(ch)];
	struct net_conn c = { .timeout_ms = 3000 }, c2 = c;
	struct net_hdr h;

	detd_start();
	ck_assert_int_eq(net_key_load(keyf, key), 0);
	randombytes_buf(nc, sizeof(nc));
	c.fd = net_connect(addr, 2000);
	ck_assert_int_eq(net_send(&c, NET_HELLO, nc, sizeof(nc)), 0);
	ck_assert_int_eq(net_recv(&c, &h, ch, sizeof(ch)), 0);
	mac_of(mac, key, "detd-c", ch, nc);
	ck_assert_int_eq(net_send(&c, NET_AUTH, mac, sizeof(mac)), 0);
	ck_assert_int_eq(net_recv(&c, &h, NULL, 0), 0);
	ck_assert_int_eq(h.type, NET_AUTH_OK);
	close(c.fd);
	/* The same HELLO and AUTH again: a new challenge, a stale answer. */
	c2.fd = net_connect(addr, 2000);
	ck_assert_int_eq(net_send(&c2, NET_HELLO, nc, sizeof(nc)), 0);
	ck_assert_int_eq(net_recv(&c2, &h, ch2, sizeof(ch2)), 0);
	ck_assert(memcmp(ch, ch2, NET_NONCE_LEN) != 0);
	ck_assert_int_eq(net_send(&c2, NET_AUTH, mac, sizeof(mac)), 0);
	ck_assert_int_eq(net_recv(&c2, &h, ch2, sizeof(ch2)), 0);
	ck_assert_int_eq(h.type, NET_ERROR);
	ck_assert(closed_by_peer(c2.fd));
	close(c2.fd);
	ck_assert_int_eq(log_wait("authentication failed", 1), 1);
}
END_TEST

/* How a hostile client sends its bytes. */
enum { RAW, AUTH_RAW, AUTH_CUT, AUTH_TAGGED };

/* Raw bytes from a hostile client, as one connection: before the
 * handshake (RAW) or after it -- as they are (AUTH_RAW), then closing
 * its side (AUTH_CUT: a truncated frame), or as a whole frame followed
 * by its right tag (AUTH_TAGGED: the parsers behind the tag check). */
static void
hostile(const void *p, size_t n, int how)
{
	uint8_t f[400];
	struct net_conn c;
	struct net_tag t;

	ck_assert_uint_le(n + NET_TAG_LEN, sizeof(f));
	memcpy(f, p, n);
	if (how != RAW) {
		ck_assert_int_eq(connect_auth(keyf, &c), 0);
	} else {
		c.fd = net_connect(addr, 2000);
		ck_assert_int_ge(c.fd, 0);
	}
	if (how == AUTH_TAGGED) {
		net_tag_begin(&t, c.k.kind, c.k.tx, f);
		net_tag_update(&t, f + NET_HDR_LEN, n - NET_HDR_LEN);
		net_tag_final(&t, f + n);
		n += NET_TAG_LEN;
	}
	ck_assert_int_eq(send(c.fd, f, n, MSG_NOSIGNAL), (ssize_t)n);
	if (n < NET_HDR_LEN || how == AUTH_CUT)
		shutdown(c.fd, SHUT_WR);	/* truncated */
	ck_assert_msg(closed_by_peer(c.fd), "detd kept a hostile "
		      "connection open");
	close(c.fd);
}

/* Several clients at once, one of them hostile in every way: each bad
 * connection is closed with one log line; the good one, open all along,
 * keeps being served, and new ones are accepted. */
START_TEST(test_hostile_clients)
{
	uint8_t b[64 + NET_TAG_LEN], garbage[300];
	struct net_conn good, good2;
	int i;

	detd_start();
	ck_assert_int_eq(connect_auth(keyf, &good), 0);
	ping_ok(&good);
	for (i = 0; i < (int)sizeof(garbage); i++)
		garbage[i] = (uint8_t)(i * 37 + 11);
	hostile(garbage, sizeof(garbage), RAW);		/* bad magic */
	ping_ok(&good);
	mkhdr(b, NET_MAGIC, V, NET_HELLO, 0, 0, 1u << 30);
	hostile(b, NET_HDR_LEN, RAW);			/* oversized */
	mkhdr(b, NET_MAGIC, V, NET_HELLO, 0, 0, NET_NONCE_LEN);
	hostile(b, 7, RAW);				/* truncated hdr */
	mkhdr(b, NET_MAGIC, V, NET_PING, 0, 2, 32);
	hostile(b, NET_HDR_LEN + 5, AUTH_CUT);		/* truncated body,
							   after auth */
	mkhdr(b, NET_MAGIC, V, NET_PING, 0, 0, 1);	/* replayed seq */
	hostile(b, NET_HDR_LEN + 1, AUTH_TAGGED);
	mkhdr(b, NET_MAGIC, V, NET_SPAWN, 0, 2, 8);	/* spawn, garbage */
	memset(b + NET_HDR_LEN, 0xff, 8);
	hostile(b, NET_HDR_LEN + 8, AUTH_TAGGED);
	mkhdr(b, NET_MAGIC, V, NET_PAGES, 0, 2, 8);	/* out of place */
	hostile(b, NET_HDR_LEN + 8, AUTH_TAGGED);
	mkhdr(b, NET_MAGIC, V, NET_PING, 0, 2, 5);	/* a forged tag */
	memset(b + NET_HDR_LEN, 'x', 5 + NET_TAG_LEN);
	hostile(b, NET_HDR_LEN + 5 + NET_TAG_LEN, AUTH_RAW);
	ping_ok(&good);
	ck_assert_int_eq(connect_auth(keyf, &good2), 0);
	ping_ok(&good2);
	close(good2.fd);
	close(good.fd);
	/* One line per hostile connection (8), none for the good ones. */
	ck_assert_int_eq(log_wait("closing", 8), 8);
	ck_assert_int_eq(log_count("bad frame"), 3);
	ck_assert_int_eq(log_count("frame tag wrong"), 1);
	ck_assert_int_eq(log_count("malformed SPAWN"), 1);
	ck_assert_int_eq(log_count("unexpected frame"), 1);
	ck_assert_int_eq(log_count("handshake failed"), 3);
	ck_assert_int_eq(log_count(": error:"), 0);
}
END_TEST

/* A client of another protocol version (an older or newer det): detd
 * answers ERROR saying so (its own version in the header) and logs one
 * line naming both versions; a new client meeting such an answer says
 * "protocol version mismatch".  Nothing else happens. */
START_TEST(test_version_mismatch)
{
	uint8_t b[NET_HDR_LEN + NET_NONCE_LEN], key[NET_KEY_LEN];
	char text[NET_MAX_TEXT + 1] = "";
	struct net_conn c = { .timeout_ms = 3000 };
	struct net_hdr h;
	int sv[2];

	detd_start();
	c.fd = net_connect(addr, 2000);
	ck_assert_int_ge(c.fd, 0);
	mkhdr(b, NET_MAGIC, V - 1, NET_HELLO, 0, 0, NET_NONCE_LEN);
	memset(b + NET_HDR_LEN, 1, NET_NONCE_LEN);
	ck_assert_int_eq(send(c.fd, b, sizeof(b), 0), (ssize_t)sizeof(b));
	ck_assert_int_eq(net_recv(&c, &h, text, NET_MAX_TEXT), 0);
	ck_assert_int_eq(h.type, NET_ERROR);
	ck_assert_ptr_nonnull(strstr(text, NET_VERSION_TEXT));
	ck_assert(closed_by_peer(c.fd));
	close(c.fd);
	ck_assert_int_eq(log_wait("speaks protocol version", 1), 1);
	snprintf(text, sizeof(text), "client speaks protocol version %d, "
		 "this detd %d", V - 1, V);
	ck_assert_int_eq(log_count(text), 1);
	ck_assert_int_eq(log_count("detd["), 2);	/* and "listening" */
	/* The client's side: a server answering in another version. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	mkhdr(b, NET_MAGIC, V + 1, NET_CHALLENGE, 0, 0, 0);
	ck_assert_int_eq(send(sv[1], b, NET_HDR_LEN, 0), NET_HDR_LEN);
	memset(&c, 0, sizeof(c));
	c.fd = sv[0];
	c.timeout_ms = 3000;
	memset(key, 3, sizeof(key));
	ck_assert_int_eq(net_auth_client(&c, key), -EPROTONOSUPPORT);
	ck_assert_int_eq(c.keyed, 0);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* A SPAWN for a program whose files differ here, or for a CPU with
 * features this one lacks: refused with a reason, nothing run. */
START_TEST(test_spawn_refused)
{
	static struct net_spawn s;
	static uint8_t buf[8192];
	char why[NET_MAX_TEXT + 1];
	struct net_conn c;
	struct net_hdr h;
	long n;
	int k;

	detd_start();
	for (k = 0; k < 2; k++) {
		memset(&s, 0, sizeof(s));
		s.exe = "/bin/sh";
		ck_assert_int_eq(net_file_hash("/bin/sh", s.exe_hash), 0);
		if (k == 0)
			s.exe_hash[3] ^= 1;
		else
			s.cpu[4] = 0xffffffffu;
		s.argc = 1;
		s.argv[0] = "sh";
		s.cwd = "/";
		s.execfn = "/bin/sh";
		n = net_spawn_encode(&s, buf, sizeof(buf));
		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(connect_auth(keyf, &c), 0);
		ck_assert_int_eq(net_send(&c, NET_SPAWN, buf, (size_t)n), 0);
		memset(why, 0, sizeof(why));
		ck_assert_int_eq(net_recv(&c, &h, why, NET_MAX_TEXT), 0);
		ck_assert_int_eq(h.type, NET_ERROR);
		ck_assert_ptr_nonnull(strstr(why, k ? "CPU" : "differs"));
		close(c.fd);
	}
	ck_assert_int_eq(log_wait("refused", 2), 2);
	ck_assert_int_eq(log_count("worker"), 0);
}
END_TEST

/* The page cache: what was put comes back by its hash, nothing else;
 * a slot being written (odd sequence) reads as a miss; many pages in a
 * small cache evict, never corrupt. */
START_TEST(test_cache)
{
	static uint8_t page[NET_PAGE], out[NET_PAGE];
	struct net_cache c;
	uint8_t h[16], h2[16];
	int fd, i, hits = 0;

	fd = net_cache_create(64 * (NET_PAGE + 32));
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(net_cache_attach(&c, fd), 0);
	memset(page, 7, sizeof(page));
	net_page_hash(page, h);
	ck_assert_int_eq(net_cache_get(&c, h, out), 0);
	net_cache_put(&c, h, page);
	ck_assert_int_eq(net_cache_get(&c, h, out), 1);
	ck_assert_mem_oracle(out, page, NET_PAGE);
	memcpy(h2, h, 16);
	h2[5] ^= 1;
	ck_assert_int_eq(net_cache_get(&c, h2, out), 0);
	/* A writer in the middle of that slot: its seq is odd. */
	for (i = 0; i < (int)c.nslots; i++)
		if (memcmp((uint8_t *)c.slots + i * 32 + 8, h, 16) == 0)
			*(uint64_t *)((uint8_t *)c.slots + i * 32) |= 1;
	ck_assert_int_eq(net_cache_get(&c, h, out), 0);
	/* 1000 pages into 64 slots: every hit is the right page. */
	for (i = 0; i < 1000; i++) {
		memset(page, 0, sizeof(page));
		memcpy(page, &i, sizeof(i));
		net_page_hash(page, h);
		net_cache_put(&c, h, page);
	}
	for (i = 0; i < 1000; i++) {
		memset(page, 0, sizeof(page));
		memcpy(page, &i, sizeof(i));
		net_page_hash(page, h);
		if (net_cache_get(&c, h, out)) {
			ck_assert_mem_oracle(out, page, NET_PAGE);
			hits++;
		}
	}
	ck_assert_int_gt(hits, 10);
	ck_assert_int_le(hits, 64);
	close(fd);
}
END_TEST

static Suite *
net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("proto");

	tcase_add_loop_test(tc, test_hdr_table, 0,
			    sizeof(hdr_cases) / sizeof(hdr_cases[0]));
	tcase_add_loop_test(tc, test_tag_table, 0, 2 * NTAG);
	tcase_add_loop_test(tc, test_lazy_ranges, 0,
			    sizeof(lazy_cases) / sizeof(lazy_cases[0]));
	tcase_add_loop_test(tc, test_resume_parse, 0,
			    sizeof(resume_cases) / sizeof(resume_cases[0]));
	tcase_add_loop_test(tc, test_nodes_table, 0,
			    sizeof(nodes_cases) / sizeof(nodes_cases[0]));
	tcase_add_test(tc, test_spawn_roundtrip);
	tcase_add_test(tc, test_cache);
	suite_add_tcase(s, tc);
	tc = tcase_create("detd");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_auth_ping);
	tcase_add_test(tc, test_wrong_key);
	tcase_add_test(tc, test_replay);
	tcase_add_test(tc, test_hostile_clients);
	tcase_add_test(tc, test_version_mismatch);
	tcase_add_test(tc, test_spawn_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return test_run(net_suite());
}
