/*
 * net_worker.c -- the control page shared by detd and its worker, and
 * small helpers both sides use (net_worker.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "net_worker.h"

/* kern's report of a refused system call (kern/rt.h struct msg): an int
 * type, MSG_POLICY = 4, then an int code, the syscall number. */
#define KERN_MSG_POLICY	4

/* see net_worker.h */
int
net_wctl_create(struct net_wctl *w)
{
	int err;

	w->fd = memfd_create("det-ctl", MFD_CLOEXEC);
	if (w->fd < 0)
		return -errno;
	if (ftruncate(w->fd, sizeof(*w->shared)) < 0) {
		err = -errno;
		close(w->fd);
		return err;
	}
	err = net_wctl_attach(w, w->fd);
	if (err)
		close(w->fd);
	return err;
}

/* see net_worker.h */
int
net_wctl_attach(struct net_wctl *w, int fd)
{
	void *p = mmap(NULL, sizeof(*w->shared), PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	w->fd = fd;
	w->shared = p;
	return 0;
}

/* see net_worker.h */
void
net_wctl_destroy(struct net_wctl *w)
{
	if (w->shared)
		munmap(w->shared, sizeof(*w->shared));
	if (w->fd >= 0)
		close(w->fd);
	w->shared = NULL;
	w->fd = -1;
}

/* see net_worker.h */
void
net_wctl_keys_put(struct net_wctl_page *p, const struct net_conn *c)
{
	p->keys = c->k;
}

/* see net_worker.h */
void
net_wctl_keys_take(struct net_wctl_page *p, struct net_conn *c)
{
	net_conn_key(c, &p->keys);
	net_keys_wipe(&p->keys);
}

/* see net_worker.h */
long
net_worker_policy_nr(int sock)
{
	int m[64];
	ssize_t n;

	do
		n = recv(sock, m, sizeof(m), 0);
	while (n < 0 && errno == EINTR);
	if (n == 4 && memcmp(m, NET_WORKER_DONE, 4) == 0)
		return -2;
	if (n >= (ssize_t)(2 * sizeof(int)) && m[0] == KERN_MSG_POLICY)
		return m[1];
	return -1;
}

/* see net_worker.h */
const char *
net_status_name(uint32_t kind)
{
	static const char *n[] = { "exit", "signal", "policy", "error",
				   "exit()" };

	return kind < 5 ? n[kind] : "?";
}

/* see net_worker.h */
const char *
net_strerror(int err)
{
	switch (err) {
	case -EPROTO:
		return "malformed frame (bad magic, version, type or field)";
	case -EMSGSIZE:
		return "length over the protocol's limit";
	case -EBADMSG:
		return "frame out of sequence (replayed or reordered)";
	case -EKEYREJECTED:
		return "frame tag wrong (altered or forged on the way)";
	case -EPROTONOSUPPORT:
		return "protocol version mismatch (another build of det)";
	case -EPIPE:
		return "connection closed (truncated frame)";
	case -ETIMEDOUT:
		return "timed out";
	case -EACCES:
		return "authentication failed (wrong key)";
	default:
		return strerror(-err);
	}
}
