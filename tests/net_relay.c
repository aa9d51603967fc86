/*
 * net_relay.c -- a man in the middle for tests/net.sh: relays detd
 * connections and alters one frame on the way.
 *
 *   net_relay TARGET c2s|s2c TYPE
 *
 * Listens on 127.0.0.1 (a free port, printed on stdout as HOST:PORT),
 * connects each client to TARGET (a detd) and copies both directions
 * frame by frame; in the direction given (c2s: client to detd), the
 * first frame of type TYPE (net.h's numbers) gets one payload byte
 * flipped.  Frames after the handshake (seq >= 2 in both directions)
 * carry a tag: the relay forwards it unchanged, so only the receiver's
 * tag check can notice.  One process per connection; runs until killed.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "net.h"

/* One direction of a connection being copied. */
struct dir {
	int from, to;
	int tamper;		/* flip a byte of the first frame of type */
	unsigned type;
	uint8_t *buf;		/* NET_MAX_FRAME + tag */
};

/* Copy one frame from d->from to d->to (altered if it is the one).
 * 0, or -1 when either side closed. */
static int
relay_frame(struct dir *d)
{
	struct iovec v;
	uint32_t seq, len;
	size_t n;

	if (net_read_full(d->from, d->buf, NET_HDR_LEN, 0))
		return -1;
	memcpy(&seq, d->buf + 8, 4);
	memcpy(&len, d->buf + 12, 4);
	if (len > NET_MAX_FRAME + 64)
		return -1;
	n = len + (seq >= 2 ? NET_TAG_LEN : 0);
	if (net_read_full(d->from, d->buf + NET_HDR_LEN, n, 0))
		return -1;
	if (d->tamper && d->buf[5] == d->type && len > 0) {
		d->buf[NET_HDR_LEN + len / 2 + 4] ^= 0x20;
		d->tamper = 0;
		fprintf(stderr, "net_relay: altered frame %u (type %u)\n",
			seq, d->type);
	}
	v.iov_base = d->buf;
	v.iov_len = NET_HDR_LEN + n;
	return net_write_full(d->to, &v, 1, 0) ? -1 : 0;
}

/* Copy both directions of one connection until either side closes. */
static void
relay(int client, const char *target, int c2s, unsigned type)
{
	struct dir d[2];
	struct pollfd p[2];
	int server = net_connect(target, 5000), i;

	if (server < 0)
		_exit(1);
	d[0] = (struct dir){ client, server, c2s, type, NULL };
	d[1] = (struct dir){ server, client, !c2s, type, NULL };
	for (i = 0; i < 2; i++) {
		d[i].buf = malloc(NET_HDR_LEN + NET_MAX_FRAME + 64 +
				  NET_TAG_LEN);
		if (!d[i].buf)
			_exit(1);
		p[i] = (struct pollfd){ .fd = d[i].from, .events = POLLIN };
	}
	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++)
			if (p[i].revents && relay_frame(&d[i]))
				_exit(0);
	}
	_exit(0);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in a;
	socklen_t sl = sizeof(a);
	int lfd, fd;

	if (argc != 4 || (strcmp(argv[2], "c2s") && strcmp(argv[2], "s2c"))) {
		fprintf(stderr, "usage: net_relay TARGET c2s|s2c TYPE\n");
		return 2;
	}
	signal(SIGCHLD, SIG_IGN);	/* no zombies */
	lfd = net_listen("127.0.0.1:0");
	if (lfd < 0 || getsockname(lfd, (struct sockaddr *)&a, &sl) < 0) {
		fprintf(stderr, "net_relay: cannot listen\n");
		return 1;
	}
	printf("127.0.0.1:%u\n", ntohs(a.sin_port));
	fflush(stdout);
	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		if (fork() == 0) {
			close(lfd);
			relay(fd, argv[1], strcmp(argv[2], "c2s") == 0,
			      (unsigned)atoi(argv[3]));
		}
		close(fd);
	}
}
