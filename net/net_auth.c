/*
 * net_auth.c -- shared keys and the mutual challenge-response that opens
 * every detd connection (libsodium: crypto_auth = HMAC-SHA512-256,
 * randombytes_buf, sodium_memcmp).
 *
 *   c -> s  HELLO      nc                       (32 fresh random bytes)
 *   s -> c  CHALLENGE  ns, HMAC(K, "detd-s" nc ns)
 *   c -> s  AUTH       HMAC(K, "detd-c" ns nc)
 *   s -> c  AUTH_OK
 *
 * Each side proves it knows K over a nonce the *other* side just chose,
 * so a recorded answer is worthless in another session (replay fails);
 * the two directions use different labels, so one side's MAC cannot be
 * reflected back as the other's.  Both sides then derive the session's
 * frame keys from K and the two nonces (net_tag.c): every frame after
 * AUTH_OK carries a tag.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "net.h"

/* see net.h */
int
net_key_gen(const char *path)
{
	uint8_t key[NET_KEY_LEN];
	int fd, err = 0;

	if (sodium_init() < 0)
		return -EIO;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	crypto_auth_keygen(key);
	if (write(fd, key, sizeof(key)) != (ssize_t)sizeof(key))
		err = errno ? -errno : -EIO;
	sodium_memzero(key, sizeof(key));
	if (!err && fchmod(fd, 0600) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (err)
		unlink(path);
	return err;
}

/* see net.h */
int
net_key_load(const char *path, uint8_t key[NET_KEY_LEN])
{
	struct stat st;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (st.st_mode & 077) {
		err = -EPERM;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size != NET_KEY_LEN) {
		err = -EINVAL;
		goto out;
	}
	n = read(fd, key, NET_KEY_LEN);
	if (n != NET_KEY_LEN)
		err = n < 0 ? -errno : -EINVAL;
out:
	close(fd);
	return err;
}

/*
 * Random bytes from /dev/urandom, not getrandom(2): a program under
 * detrun has a deterministic getrandom (the same nonce every run, and
 * drawing from it would shift the program's own random stream).  The
 * raw openat: libdet's open() gives such a program a virtual
 * /dev/urandom with the same two faults (user/lib/interpose.c).
 * 0 or -errno.
 */
static int
urandom(void *buf, size_t len)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/urandom",
			      O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (read(fd, buf, len) != (ssize_t)len)
		err = -EIO;
	close(fd);
	return err;
}

/* A client nonce.  0 or -errno. */
static int
nonce(uint8_t n[NET_NONCE_LEN])
{
	return urandom(n, NET_NONCE_LEN);
}

/* randombytes for sodium_init's own use (sodium_malloc's canary). */
static void
urandom_buf(void *buf, size_t len)
{
	if (urandom(buf, len))
		memset(buf, 0, len);
}

static uint32_t
urandom_u32(void)
{
	uint32_t v;

	urandom_buf(&v, sizeof(v));
	return v;
}

static const char *
urandom_name(void)
{
	return "det-urandom";
}

/*
 * sodium_init (libsodium picks its fastest Poly1305, ChaCha20, BLAKE2b
 * for this CPU) without letting it stir its default random generator:
 * that calls getrandom(2), and a det program's getrandom is its own
 * deterministic stream, which this would shift.  A generator of our own
 * is installed for the call, then libsodium's default on Linux (which
 * sets itself up on first use, as before; a program that chose another
 * generator before its first det_fork_on would have to choose it again).
 * 0 or -EIO.
 */
int
net_crypto_init(void)
{
	static randombytes_implementation mine = {
		.implementation_name = urandom_name,
		.random = urandom_u32,
		.buf = urandom_buf,
	};
	int r;

	randombytes_set_implementation(&mine);
	r = sodium_init();
	randombytes_set_implementation(&randombytes_sysrandom_implementation);
	return r < 0 ? -EIO : 0;
}

/* HMAC(key, label || a || b) into mac. */
static void
auth_mac(uint8_t mac[NET_MAC_LEN], const uint8_t key[NET_KEY_LEN],
	 const char *label, const uint8_t *a, const uint8_t *b)
{
	uint8_t msg[8 + 2 * NET_NONCE_LEN] = { 0 };

	memcpy(msg, label, strlen(label));
	memcpy(msg + 8, a, NET_NONCE_LEN);
	memcpy(msg + 8 + NET_NONCE_LEN, b, NET_NONCE_LEN);
	crypto_auth(mac, msg, sizeof(msg), key);
}

/* Receive a frame that must be of type `want` with exactly len bytes
 * (its header flags into *flags when not NULL); an ERROR frame from the
 * peer is -EACCES (-EPROTONOSUPPORT when it says the versions differ).
 * 0 or -errno. */
static int
recv_exact(struct net_conn *c, unsigned want, void *buf, size_t len,
	   unsigned *flags)
{
	uint8_t tmp[NET_MAX_TEXT];
	struct net_hdr h;
	int err;

	err = net_recv_hdr(c, &h);
	if (err)
		return err;
	if (h.type == NET_ERROR) {
		net_recv_body(c, tmp, h.len);
		if (h.len >= sizeof(NET_VERSION_TEXT) - 1 &&
		    memcmp(tmp, NET_VERSION_TEXT,
			   sizeof(NET_VERSION_TEXT) - 1) == 0)
			return -EPROTONOSUPPORT;
		return -EACCES;
	}
	if (h.type != want || h.len != len)
		return -EPROTO;
	if (flags)
		*flags = h.flags;
	return net_recv_body(c, buf, len);
}

/* see net.h */
int
net_auth_client(struct net_conn *c, const uint8_t key[NET_KEY_LEN])
{
	static const char no[] = "authentication failed";
	uint8_t nc[NET_NONCE_LEN], ch[NET_NONCE_LEN + NET_MAC_LEN];
	uint8_t mac[NET_MAC_LEN];
	unsigned offer = net_tag_gcm_ok() ? NET_FLAG_GCM : 0, flags = 0;
	struct net_keys k;
	int err;

	err = nonce(nc);
	if (!err)
		err = net_send_flags(c, NET_HELLO, offer, nc, sizeof(nc));
	if (!err)
		err = recv_exact(c, NET_CHALLENGE, ch, sizeof(ch), &flags);
	if (!err && (flags & ~offer))
		err = -EPROTO;	/* a tag kind not offered */
	if (err)
		return err;
	auth_mac(mac, key, "detd-s", nc, ch);
	if (sodium_memcmp(mac, ch + NET_NONCE_LEN, NET_MAC_LEN) != 0) {
		net_send(c, NET_ERROR, no, sizeof(no) - 1);
		return -EACCES;
	}
	auth_mac(mac, key, "detd-c", ch, nc);
	err = net_send(c, NET_AUTH, mac, sizeof(mac));
	if (!err)
		err = recv_exact(c, NET_AUTH_OK, NULL, 0, NULL);
	if (err)
		return err;
	net_session_keys(key, nc, ch, flags & NET_FLAG_GCM ? NET_TAG_AESGCM :
			 NET_TAG_POLY1305, 0, &k);
	net_conn_key(c, &k);
	net_keys_wipe(&k);
	return 0;
}

/* see net.h */
int
net_auth_server(struct net_conn *c, const uint8_t key[NET_KEY_LEN])
{
	static const char no[] = "authentication failed";
	uint8_t nc[NET_NONCE_LEN], ch[NET_NONCE_LEN + NET_MAC_LEN];
	uint8_t mac[NET_MAC_LEN], got[NET_MAC_LEN];
	struct net_keys k;
	unsigned flags = 0;
	char text[80];
	int err;

	if (sodium_init() < 0)
		return -EIO;
	err = recv_exact(c, NET_HELLO, nc, sizeof(nc), &flags);
	if (err == -EPROTONOSUPPORT) {
		snprintf(text, sizeof(text), NET_VERSION_TEXT ": this node "
			 "speaks version %d", NET_VERSION);
		net_send(c, NET_ERROR, text, strlen(text));
	}
	if (err)
		return err;
	/* AES-GCM when both CPUs can (the client offered it). */
	flags = (flags & NET_FLAG_GCM) && net_tag_gcm_ok() ? NET_FLAG_GCM : 0;
	randombytes_buf(ch, NET_NONCE_LEN);
	auth_mac(ch + NET_NONCE_LEN, key, "detd-s", nc, ch);
	err = net_send_flags(c, NET_CHALLENGE, flags, ch, sizeof(ch));
	if (!err)
		err = recv_exact(c, NET_AUTH, got, sizeof(got), NULL);
	if (err)
		return err;
	auth_mac(mac, key, "detd-c", ch, nc);
	if (sodium_memcmp(mac, got, NET_MAC_LEN) != 0) {
		net_send(c, NET_ERROR, no, sizeof(no) - 1);
		return -EACCES;
	}
	err = net_send(c, NET_AUTH_OK, NULL, 0);
	if (err)
		return err;
	net_session_keys(key, nc, ch, flags ? NET_TAG_AESGCM :
			 NET_TAG_POLY1305, 1, &k);
	net_conn_key(c, &k);
	net_keys_wipe(&k);
	return 0;
}
