/*
 * net_sock.c -- TCP sockets from "host:port" text: connect with a
 * deadline, listen.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

/*
 * Split "host:port" / "[v6]:port" into host[] and port[]; 0 or -EINVAL
 * (no port, a port that is not 1..65535 -- or 0 with any_port: the
 * kernel's choice --, text too long).
 */
static int
split_hostport(const char *s, char *host, size_t hlen, char *port,
	       int any_port)
{
	const char *colon;
	size_t n;
	char *end;
	long p;

	if (!s)
		return -EINVAL;
	if (*s == '[') {
		colon = strstr(s, "]:");
		if (!colon)
			return -EINVAL;
		n = (size_t)(colon - s - 1);
		s++;
		colon++;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		n = (size_t)(colon - s);
	}
	if (n == 0 || n >= hlen)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = 0;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p < !any_port || p > 65535)
		return -EINVAL;
	snprintf(port, 8, "%ld", p);
	return 0;
}

/* Resolve text into *res (numeric or by name); 0 or -EINVAL. */
static int
resolve(const char *hostport, int passive, struct addrinfo **res)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	char host[256], port[8];

	if (split_hostport(hostport, host, sizeof(host), port, passive))
		return -EINVAL;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	if (getaddrinfo(host, port, &hints, res) != 0)
		return -EINVAL;
	return 0;
}

/* Connect fd to a within timeout_ms; 0 or -errno. */
static int
connect_timed(int fd, const struct addrinfo *a, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t sl = sizeof(int);
	int fl = fcntl(fd, F_GETFL), r, soerr = 0;

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	r = connect(fd, a->ai_addr, a->ai_addrlen);
	if (r < 0 && errno != EINPROGRESS)
		return -errno;
	if (r < 0) {
		do
			r = poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1);
		while (r < 0 && errno == EINTR);
		if (r == 0)
			return -ETIMEDOUT;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			return -errno;
		if (soerr)
			return -soerr;
	}
	fcntl(fd, F_SETFL, fl);
	return 0;
}

/*
 * A numeric address ("10.0.0.2:7677", "[::1]:7677") into *a (storage
 * in ss) without getaddrinfo, which allocates: a det parent connecting
 * to a node must leave its heap as a local det_fork would.  0, or
 * -EINVAL when the text is not numeric.
 */
static int
numeric(const char *hostport, struct addrinfo *a,
	struct sockaddr_storage *ss)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	char host[256], port[8];

	if (split_hostport(hostport, host, sizeof(host), port, 0))
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	memset(ss, 0, sizeof(*ss));
	a->ai_socktype = SOCK_STREAM;
	a->ai_addr = (struct sockaddr *)ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)atoi(port));
		a->ai_family = AF_INET;
		a->ai_addrlen = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)atoi(port));
		a->ai_family = AF_INET6;
		a->ai_addrlen = sizeof(*v6);
		return 0;
	}
	return -EINVAL;
}

/* see net.h */
int
net_connect(const char *hostport, int timeout_ms)
{
	struct addrinfo *res, *a, one_ai;
	struct sockaddr_storage ss;
	int fd = -1, err, one = 1;

	if (numeric(hostport, &one_ai, &ss) == 0) {
		res = NULL;
		a = &one_ai;
	} else {
		err = resolve(hostport, 0, &res);
		if (err)
			return err;
		a = res;
	}
	err = -ECONNREFUSED;
	for (; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
			    a->ai_protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		err = connect_timed(fd, a, timeout_ms);
		if (!err)
			break;
		close(fd);
		fd = -1;
	}
	if (res)
		freeaddrinfo(res);
	if (fd < 0)
		return err;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* see net.h */
int
net_listen(const char *hostport)
{
	struct addrinfo *res;
	int fd, err, one = 1;

	err = resolve(hostport, 1, &res);
	if (err)
		return err;
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC,
		    res->ai_protocol);
	if (fd < 0) {
		err = -errno;
		goto err_free;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, 64) < 0) {
		err = -errno;
		goto err_close;
	}
	freeaddrinfo(res);
	return fd;

err_close:
	close(fd);
err_free:
	freeaddrinfo(res);
	return err;
}

/* see net.h */
int
net_numeric(const char *hostport, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	struct addrinfo *res, *a;
	const void *in;
	unsigned port;
	int n, err;

	err = resolve(hostport, 0, &res);
	if (err)
		return err;
	/* IPv4 first when the name has both: detd listens there by
	 * default. */
	for (a = res; a && a->ai_family != AF_INET; a = a->ai_next)
		;
	if (!a)
		a = res;
	if (a->ai_family == AF_INET6) {
		in = &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
		port = ntohs(((struct sockaddr_in6 *)a->ai_addr)->sin6_port);
	} else {
		in = &((struct sockaddr_in *)a->ai_addr)->sin_addr;
		port = ntohs(((struct sockaddr_in *)a->ai_addr)->sin_port);
	}
	if (!inet_ntop(a->ai_family, in, host, sizeof(host))) {
		freeaddrinfo(res);
		return -EINVAL;
	}
	n = snprintf(out, len, a->ai_family == AF_INET6 ? "[%s]:%u" :
		     "%s:%u", host, port);
	freeaddrinfo(res);
	return n < 0 || (size_t)n >= len ? -E2BIG : 0;
}

/* see net.h */
size_t
net_nodes_next(const char **pos, int file, const char **node)
{
	const char *p, *end;
	size_t n;

	for (p = *pos; *p; p = *end ? end + 1 : end) {
		end = p + strcspn(p, file ? "\n" : ",");
		if (file) {
			n = strcspn(p, " \t#\n");	/* the first word */
		} else {
			p += strspn(p, " \t");	/* stops at end */
			n = (size_t)(end - p);
		}
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' ||
			     p[n - 1] == '\r'))
			n--;
		if (n) {
			*node = p;
			*pos = *end ? end + 1 : end;
			return n;
		}
	}
	*pos = p;
	return 0;
}
