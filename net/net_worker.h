/*
 * net_worker.h -- what detd's connection process and the worker it
 * execs share (the worker side is user/lib/remote.c).
 *
 * The worker inherits, at fixed numbers: the client's connection
 * (NET_WFD_SOCK), a socket on which the sandbox reports a refused
 * system call (NET_WFD_POLICY: kern's policy report, see
 * net_worker_policy_nr), and a shared control page (NET_WFD_CTL): the
 * frame counters of the connection (the worker continues the numbering
 * where detd left it, and detd continues after the worker), whether fn
 * ended (done, code), or why the worker could not run it (failed[]).
 * fds 1 and 2 are capture files that detd sends back (NET_OUTPUT).
 */
#ifndef NET_WORKER_H
#define NET_WORKER_H

#include <stdint.h>

#include "net.h"

#define NET_WFD_SOCK	3
#define NET_WFD_POLICY	4
#define NET_WFD_CTL	5
#define NET_WFD_CACHE	6	/* the page cache, if detd has one */
#define NET_WFD_UFFD	7	/* /dev/userfaultfd, opened by detd as root
				   (lazy paging as an unprivileged user) */

/* NET_STATUS kinds. */
enum net_status_kind {
	NET_ST_EXIT = 0,	/* fn returned or det_exit: code */
	NET_ST_SIGNAL,		/* the worker died of signal code */
	NET_ST_POLICY,		/* the sandbox refused syscall code (-1:
				   unknown) */
	NET_ST_ERROR,		/* nothing ran: text says why */
	NET_ST_RAWEXIT,		/* fn called exit(code), not det_exit */
};

struct net_wctl_page {
	uint32_t tx_seq;
	uint32_t rx_seq;
	/* The session's frame keys, from detd to the worker, which takes
	 * them (net_wctl_keys_take wipes them here).  detd keeps its own
	 * copy: it never reads keys back from this page, which the worker's
	 * user code can write. */
	struct net_keys keys;
	int exec_errno;
	int done;
	int code;
	uint64_t pages_cached;	/* image pages the cache (or zero) had */
	uint64_t pages_sent;	/* image pages the client sent */
	uint64_t pages_lz4;	/* of which compressed (PAGESZ) */
	uint64_t pages_dirty;	/* pages sent back */
	uint64_t t_main;	/* CLOCK_MONOTONIC ns: the worker's libdet
				   took over (before main) */
	uint64_t t_image;	/* the image is in place (GO) */
	uint64_t pages_lazy;	/* of pages_sent: while the child ran */
	uint64_t faults;	/* FAULT frames: pages the child waited for */
	int pager_pid;		/* the worker's lazy pager (real pid), or 0 */
	int pager_done;		/* it ended as it should (not killed) */
	char failed[256];
};

struct net_wctl {
	int fd;
	struct net_wctl_page *shared;
};

/* detd: hand c's session keys to the worker on the page. */
void net_wctl_keys_put(struct net_wctl_page *p, const struct net_conn *c);
/* The worker: key c with them, and wipe them from the page. */
void net_wctl_keys_take(struct net_wctl_page *p, struct net_conn *c);

/* detd: make the control page (memfd, mapped shared).  0 or -errno. */
int net_wctl_create(struct net_wctl *w);
/* The worker: map the inherited one.  0 or -errno. */
int net_wctl_attach(struct net_wctl *w, int fd);
void net_wctl_destroy(struct net_wctl *w);

/* The worker's message on NET_WFD_POLICY when fn ended and the
 * control page says how (it may then take a while to exit). */
#define NET_WORKER_DONE	"done"

/* detd: wait for the worker's first message on sock (or its exit):
 * the syscall number of the sandbox's report, -2 for NET_WORKER_DONE,
 * or -1 for neither (the worker ended without a word). */
long net_worker_policy_nr(int sock);

/* "exit", "signal", "policy", "error". */
const char *net_status_name(uint32_t kind);

/* Text for a net.h error (protocol ones named). */
const char *net_strerror(int err);

#endif /* NET_WORKER_H */
