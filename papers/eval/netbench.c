/*
 * netbench.c -- remote-space benchmarks (papers/eval/netbench.sh):
 *
 *   netbench tcpserve ADDR:PORT [fresh|mem]  receive streams, answer
 *                                        each (into a 1 MiB buffer; fresh:
 *                                        each into newly mapped memory, as
 *                                        a worker receives an image; mem:
 *                                        into one made and kept buffer as
 *                                        large as the stream)
 *   netbench tcpsend ADDR:PORT MIB REPS [mem]  raw TCP: MIB MiB, REPS
 *                                        times (from a 1 MiB buffer; mem:
 *                                        from a MIB-MiB buffer)
 *   netbench populate MIB REPS           time to make MIB MiB of fresh
 *                                        memory (MADV_POPULATE_WRITE)
 *   netbench fork NODE MIB REPS [IF]     a MIB-MiB space, one child on
 *                                        NODE reading 1% of it, REPS
 *                                        times unchanged
 *   netbench span NODE MIB REPS [IF]     the same, but the child reads a
 *                                        contiguous 1% (from the middle);
 *                                        run with DET_LAZY=0 and =1
 *
 *   netbench tags MIB                    frame tags (net_tag.c) over MIB MiB
 *                                        of 1 MiB frames: AES-GCM (where
 *                                        the CPU has it), Poly1305, and a
 *                                        memcpy of the same bytes (MB/s)
 *   netbench matmult N K [NODE...]       C = A x B (N x N doubles), rows
 *                                        split over K children, child k
 *                                        on NODE[k % #NODES] (0: local)
 *
 * Lines "R name median min max reps unit" as bench.c prints them; with
 * IF (a network interface), also the bytes sent over it per fork
 * ("R netfork.bytes.N").  Run `fork` without detrun but with address
 * randomisation off (setarch -R): real clocks.
 */
#include <det.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

static uint8_t *big;
static size_t big_len;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *name, double *v, int n, const char *unit)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	printf("R %s %.3f %.3f %.3f %d %s\n", name, v[n / 2], v[0],
	       v[n - 1], n, unit);
}

static unsigned long long
if_bytes(const char *ifname, const char *what)
{
	char p[256];
	unsigned long long v = 0;
	FILE *f;

	if (!ifname)
		return 0;
	snprintf(p, sizeof(p), "/sys/class/net/%s/statistics/%s", ifname,
		 what);
	f = fopen(p, "r");
	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

/* Fresh anonymous memory of len bytes, every page made (written), or
 * NULL. */
static uint8_t *
made(uint64_t len)
{
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0x5a, len);
	return p;
}

/* mode: 0 into a 1 MiB buffer, 'f' fresh memory per stream, 'm' one
 * kept buffer of the stream's size. */
static int
tcpserve(const char *addr, int mode)
{
	static uint8_t buf[1 << 20];
	int l = net_listen(addr), fd;
	uint64_t want, got, have = 0;
	uint8_t *p, *keep = NULL;
	ssize_t n;

	if (l < 0)
		return 1;
	for (;;) {
		fd = accept(l, NULL, NULL);
		if (fd < 0)
			continue;
		while (recv(fd, &want, 8, MSG_WAITALL) == 8) {
			p = NULL;
			if (mode == 'f')
				p = mmap(NULL, want, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (mode == 'm' && have != want) {
				if (keep)
					munmap(keep, have);
				keep = made(want);
				have = keep ? want : 0;
			}
			if (mode == 'm')
				p = keep ? keep : MAP_FAILED;
			if (p == MAP_FAILED)
				return 1;
			for (got = 0; got < want; got += (uint64_t)n) {
				size_t k = want - got < sizeof(buf) ?
					   want - got : sizeof(buf);

				n = recv(fd, p ? p + got : buf, k, 0);
				if (n <= 0)
					break;
			}
			if (mode == 'f')
				munmap(p, want);
			if (send(fd, "k", 1, 0) != 1)
				break;
		}
		close(fd);
	}
}

/* mem: send from a buffer as large as the stream (memory to memory)
 * instead of one cache-warm 1 MiB buffer. */
static int
tcpsend(const char *addr, size_t mib, int reps, int mem)
{
	uint64_t len = (uint64_t)mib << 20, sent;
	uint8_t *buf = made(mem ? len : 1 << 20);
	double v[64];
	char k;
	int fd, i;

	fd = net_connect(addr, 5000);
	if (fd < 0 || !buf)
		return 1;
	for (i = 0; i < reps && i < 64; i++) {
		double t0 = now_ms();

		if (send(fd, &len, 8, 0) != 8)
			return 1;
		for (sent = 0; sent < len; sent += 1 << 20)
			if (send(fd, buf + (mem ? sent : 0), 1 << 20,
				 MSG_NOSIGNAL) != 1 << 20)
				return 1;
		if (recv(fd, &k, 1, MSG_WAITALL) != 1)
			return 1;
		v[i] = (double)len / (1 << 20) / ((now_ms() - t0) / 1e3);
	}
	report("tcp.MiBps", v, i, "MiB/s");
	return 0;
}

/* Time to make mib MiB of fresh anonymous memory with
 * MADV_POPULATE_WRITE (what a node pays before or while receiving an
 * image into it), reps times. */
static int
populate(size_t mib, int reps)
{
	uint64_t len = (uint64_t)mib << 20;
	double v[64];
	uint8_t *p;
	int i;

	for (i = 0; i < reps && i < 64; i++) {
		double t0;

		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 1;
		t0 = now_ms();
		if (madvise(p, len, 23 /* MADV_POPULATE_WRITE */) != 0)
			return 1;
		v[i] = now_ms() - t0;
		munmap(p, len);
	}
	report("populate.ms", v, i, "ms");
	return 0;
}

/* MB/s of tagging mib MiB as 1 MiB frames with kind (as net_sendv
 * does), or of copying them (kind < 0); reps times into v. */
static int
tag_rate(int kind, size_t mib, int reps, double *v)
{
	static uint8_t hdr[NET_HDR_LEN], key[NET_KEY_LEN], tag[NET_TAG_LEN];
	size_t len = mib << 20, off;
	uint8_t *big = malloc(len), *dst = malloc(1 << 20);
	struct net_tag t;
	int i;

	if (!big || !dst)
		return -1;
	for (off = 0; off < len; off++)
		big[off] = (uint8_t)(off * 131 + (off >> 12));
	for (i = 0; i < reps; i++) {
		double t0 = now_ms();

		for (off = 0; off < len; off += 1 << 20) {
			if (kind < 0) {
				memcpy(dst, big + off, 1 << 20);
				continue;
			}
			net_tag_begin(&t, (unsigned)kind, key, hdr);
			net_tag_update(&t, big + off, 8);
			net_tag_update(&t, big + off + 8, (1 << 20) - 8);
			net_tag_final(&t, tag);
		}
		v[i] = (double)len / 1e6 / ((now_ms() - t0) / 1e3);
	}
	free(big);
	free(dst);
	return 0;
}

/* netbench tags MIB: "R tags.gcm.MBps", "R tags.poly1305.MBps",
 * "R tags.memcpy.MBps". */
static int
tags(size_t mib)
{
	double v[5];

	if (net_crypto_init())
		return 1;
	if (net_tag_gcm_ok() && tag_rate(NET_TAG_AESGCM, mib, 5, v) == 0)
		report("tags.gcm.MBps", v, 5, "MB/s");
	if (tag_rate(NET_TAG_POLY1305, mib, 5, v))
		return 1;
	report("tags.poly1305.MBps", v, 5, "MB/s");
	if (tag_rate(-1, mib, 5, v))
		return 1;
	report("tags.memcpy.MBps", v, 5, "MB/s");
	return 0;
}

static uint64_t result;

/* The child: read 1% of the pages, write one word (the space stays the
 * same from one fork to the next but for that word). */
static void
touch(void *arg)
{
	uint64_t sum = 0;
	size_t i;

	(void)arg;
	for (i = 0; i < big_len; i += 100 * 4096)
		sum += big[i];
	result = sum;
}

/* The child: read a contiguous 1% of the pages, from the middle. */
static void
touch_span(void *arg)
{
	uint64_t sum = 0;
	size_t i;

	(void)arg;
	for (i = big_len / 2; i < big_len / 2 + big_len / 100; i += 4096)
		sum += big[i];
	result = sum;
}

static int
fork_bench(unsigned node, size_t mib, int reps, const char *ifname,
	   det_fn fn)
{
	double t[64], b[64], rate[64];
	struct det_status st;
	size_t i;
	int r, k;

	big_len = mib << 20;
	big = malloc(big_len);
	if (!big)
		return 1;
	/* Distinct, incompressible-looking pages. */
	for (i = 0; i < big_len; i += 8)
		*(uint64_t *)(big + i) = (i + 1) * 0x9e3779b97f4a7c15ull;
	for (k = 0; k < reps && k < 64; k++) {
		unsigned long long b0 = if_bytes(ifname, "tx_bytes");
		double t0 = now_ms();

		r = det_fork_on(0, node, fn, NULL);
		if (r == DET_OK)
			r = det_join(0, &st);
		t[k] = now_ms() - t0;
		b[k] = (double)(if_bytes(ifname, "tx_bytes") - b0);
		rate[k] = (double)mib / (t[k] / 1e3);
		if (r != DET_OK || (node && st.node != node)) {
			fprintf(stderr, "netbench: fork on node %u: %d "
				"(ran on %u)\n", node, r, st.node);
			return 1;
		}
		printf("I netfork.%d.ms %.3f\n", k, t[k]);
		/* A node files the pages it received in its cache after
		 * answering: let it settle before the next fork. */
		sleep(2);
		if (ifname)
			printf("I netfork.%d.bytes %.0f\n", k, b[k]);
	}
	report("netfork.first.ms", t, 1, "ms");
	report("netfork.first.MiBps", rate, 1, "MiB/s");
	if (ifname)
		report("netfork.first.bytes", b, 1, "B");
	if (k > 1) {
		report("netfork.again.ms", t + 1, k - 1, "ms");
		if (ifname)
			report("netfork.again.bytes", b + 1, k - 1, "B");
	}
	return 0;
}

static double *ma, *mb, *mc;
static unsigned mn, mk;

/* Rows [k*n/K, (k+1)*n/K) of C. */
static void
mm_rows(void *arg)
{
	unsigned k = (unsigned)(uintptr_t)arg, i, j, l;
	unsigned lo = k * mn / mk, hi = (k + 1) * mn / mk;

	for (i = lo; i < hi; i++)
		for (l = 0; l < mn; l++) {
			double a = ma[i * mn + l];

			for (j = 0; j < mn; j++)
				mc[i * mn + j] += a * mb[l * mn + j];
		}
}

static int
matmult(unsigned n, unsigned k, int nnodes, char **nodes)
{
	double t0, sum = 0;
	unsigned i, c;
	struct det_status st;

	mn = n;
	mk = k;
	ma = malloc(sizeof(double) * n * n);
	mb = malloc(sizeof(double) * n * n);
	mc = calloc((size_t)n * n, sizeof(double));
	if (!ma || !mb || !mc || k == 0 || k > 64)
		return 1;
	for (i = 0; i < n * n; i++) {
		ma[i] = (double)(i % 17) / 7.0;
		mb[i] = (double)(i % 13) / 5.0;
	}
	t0 = now_ms();
	for (c = 0; c < k; c++) {
		unsigned node = nnodes ? (unsigned)atoi(nodes[c % nnodes]) : 0;

		if (det_fork_on(c, node, mm_rows, (void *)(uintptr_t)c))
			return 1;
	}
	for (c = 0; c < k; c++)
		if (det_join(c, &st) != DET_OK)
			return 1;
	for (i = 0; i < n * n; i++)
		sum += mc[i] * (double)(i % 7 + 1);
	t0 = now_ms() - t0;
	printf("R matmult.%u.%d %.3f %.3f %.3f 1 ms\n", k, nnodes, t0, t0,
	       t0);
	printf("I matmult.%u.%d.checksum %.6e\n", k, nnodes, sum);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "matmult") == 0)
		return matmult((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]),
			       argc - 4, argv + 4);
	if (argc >= 3 && strcmp(argv[1], "tags") == 0)
		return tags((size_t)atol(argv[2]));
	if (argc >= 3 && strcmp(argv[1], "tcpserve") == 0)
		return tcpserve(argv[2], argc > 3 ? argv[3][0] : 0);
	if (argc >= 5 && strcmp(argv[1], "tcpsend") == 0)
		return tcpsend(argv[2], (size_t)atol(argv[3]), atoi(argv[4]),
			       argc > 5);
	if (argc >= 4 && strcmp(argv[1], "populate") == 0)
		return populate((size_t)atol(argv[2]), atoi(argv[3]));
	if (argc >= 5 && strcmp(argv[1], "fork") == 0)
		return fork_bench((unsigned)atoi(argv[2]),
				  (size_t)atol(argv[3]), atoi(argv[4]),
				  argc > 5 ? argv[5] : NULL, touch);
	if (argc >= 5 && strcmp(argv[1], "span") == 0)
		return fork_bench((unsigned)atoi(argv[2]),
				  (size_t)atol(argv[3]), atoi(argv[4]),
				  argc > 5 ? argv[5] : NULL, touch_span);
	fprintf(stderr, "usage: see papers/eval/netbench.c\n");
	return 2;
}
