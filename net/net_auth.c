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
 * reflected back as the other's.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
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
 * A client nonce from /dev/urandom, not getrandom(2): a program under
 * detrun has a deterministic getrandom (the same nonce every run, and
 * drawing from it would shift the program's own random stream).  The
 * raw openat: libdet's open() gives such a program a virtual
 * /dev/urandom with the same two faults (user/lib/interpose.c).
 * crypto_auth needs no sodium_init.  0 or -errno.
 */
static int
nonce(uint8_t n[NET_NONCE_LEN])
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/urandom",
			      O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (read(fd, n, NET_NONCE_LEN) != NET_NONCE_LEN)
		err = -EIO;
	close(fd);
	return err;
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

/* Receive a frame that must be of type `want` with exactly len bytes;
 * an ERROR frame from the peer is -EACCES.  0 or -errno. */
static int
recv_exact(struct net_conn *c, unsigned want, void *buf, size_t len)
{
	uint8_t tmp[NET_MAX_TEXT];
	struct net_hdr h;
	int err;

	err = net_recv_hdr(c, &h);
	if (err)
		return err;
	if (h.type == NET_ERROR) {
		net_recv_body(c, tmp, h.len);
		return -EACCES;
	}
	if (h.type != want || h.len != len)
		return -EPROTO;
	return net_recv_body(c, buf, len);
}

/* see net.h */
int
net_auth_client(struct net_conn *c, const uint8_t key[NET_KEY_LEN])
{
	static const char no[] = "authentication failed";
	uint8_t nc[NET_NONCE_LEN], ch[NET_NONCE_LEN + NET_MAC_LEN];
	uint8_t mac[NET_MAC_LEN];
	int err;

	err = nonce(nc);
	if (!err)
		err = net_send(c, NET_HELLO, nc, sizeof(nc));
	if (!err)
		err = recv_exact(c, NET_CHALLENGE, ch, sizeof(ch));
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
		err = recv_exact(c, NET_AUTH_OK, NULL, 0);
	return err;
}

/* see net.h */
int
net_auth_server(struct net_conn *c, const uint8_t key[NET_KEY_LEN])
{
	static const char no[] = "authentication failed";
	uint8_t nc[NET_NONCE_LEN], ch[NET_NONCE_LEN + NET_MAC_LEN];
	uint8_t mac[NET_MAC_LEN], got[NET_MAC_LEN];
	int err;

	if (sodium_init() < 0)
		return -EIO;
	err = recv_exact(c, NET_HELLO, nc, sizeof(nc));
	if (err)
		return err;
	randombytes_buf(ch, NET_NONCE_LEN);
	auth_mac(ch + NET_NONCE_LEN, key, "detd-s", nc, ch);
	err = net_send(c, NET_CHALLENGE, ch, sizeof(ch));
	if (!err)
		err = recv_exact(c, NET_AUTH, got, sizeof(got));
	if (err)
		return err;
	auth_mac(mac, key, "detd-c", ch, nc);
	if (sodium_memcmp(mac, got, NET_MAC_LEN) != 0) {
		net_send(c, NET_ERROR, no, sizeof(no) - 1);
		return -EACCES;
	}
	return net_send(c, NET_AUTH_OK, NULL, 0);
}
