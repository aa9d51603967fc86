/*
 * fuzz_proto.c -- libFuzzer target for the wire parsers (make fuzz):
 * the first byte picks the parser, the rest is its input.
 *   0: a stream of frames through net_hdr_parse (checked lengths,
 *      sequence numbers), as detd's connection loop reads them;
 *   1: a SPAWN payload through net_spawn_decode, then re-encoded: a
 *      decoded request must encode back to the same bytes;
 *   2: a LAZY payload through net_ranges_parse: accepted ranges must be
 *      page aligned, non-empty, ascending and disjoint;
 *   3: a RESUME payload through net_resume_parse: accepted, it has
 *      exactly the regions its length holds, the first two non-empty,
 *      the others as LAZY's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

int fuzz_one(const uint8_t *data, size_t size);

static void
fuzz_frames(const uint8_t *p, size_t n)
{
	struct net_hdr h;
	uint32_t seq = 0;

	while (n >= NET_HDR_LEN) {
		if (net_hdr_parse(p, &h, seq))
			return;
		if (h.len > net_max_len(h.type))
			abort();	/* a limit was not enforced */
		p += NET_HDR_LEN;
		n -= NET_HDR_LEN;
		if (h.len > n)
			return;		/* truncated: the reader waits */
		p += h.len;
		n -= h.len;
		seq++;
	}
}

static void
fuzz_spawn(const uint8_t *p, size_t n)
{
	static struct net_spawn s;
	uint8_t *buf = malloc(n + 1), *out;
	long m;

	if (!buf)
		return;
	memcpy(buf, p, n);
	if (net_spawn_decode(buf, n, &s) == 0) {
		out = malloc(n + 1);
		if (!out)
			abort();
		m = net_spawn_encode(&s, out, n + 1);
		if (m != (long)n || memcmp(out, p, n) != 0)
			abort();	/* decode and encode disagree */
		free(out);
	}
	free(buf);
}

static void
fuzz_ranges(const uint8_t *p, size_t n)
{
	static uint64_t r[NET_MAX_REGIONS][2];
	size_t k, i;

	if (net_ranges_parse(p, n, r, NET_MAX_REGIONS, &k))
		return;
	for (i = 0; i < k; i++)
		if (r[i][0] % NET_PAGE || r[i][1] % NET_PAGE ||
		    r[i][0] >= r[i][1] || (i && r[i][0] < r[i - 1][1]))
			abort();	/* a bad range was accepted */
}

static void
fuzz_resume(const uint8_t *p, size_t n)
{
	static uint64_t r[NET_MAX_REGIONS][2];
	int32_t rc;
	size_t k, i;

	if (net_resume_parse(p, n, &rc, r, NET_MAX_REGIONS, &k))
		return;
	if (k < 2 || k > NET_MAX_REGIONS || n != 8 + k * 16)
		abort();	/* the count and the length disagree */
	for (i = 0; i < k; i++)
		if (r[i][0] >= r[i][1] ||
		    (i >= 2 && (r[i][0] % NET_PAGE || r[i][1] % NET_PAGE ||
				(i > 2 && r[i][0] < r[i - 1][1]))))
			abort();	/* a bad region was accepted */
}

/* libFuzzer's entry point is LLVMFuzzerTestOneInput (an alias below). */
int
fuzz_one(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] % 4 == 1)
		fuzz_spawn(data + 1, size - 1);
	else if (data[0] % 4 == 2)
		fuzz_ranges(data + 1, size - 1);
	else if (data[0] % 4 == 3)
		fuzz_resume(data + 1, size - 1);
	else
		fuzz_frames(data + 1, size - 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
	__attribute__((alias("fuzz_one")));
