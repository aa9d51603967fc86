/*
 * fuzz_proto.c -- libFuzzer target for the wire parsers (make fuzz):
 * the first byte picks the parser, the rest is its input.
 *   0: a byte choosing the tag kind (bit 0: AES-GCM where the CPU has
 *      it), then a stream of frames (header, payload, 16-byte tag) through
 *      net_hdr_parse (checked lengths, sequence numbers), as detd's
 *      connection loop reads them.  Each frame's tag is checked under a
 *      fixed session key: the tag the input carries is accepted exactly
 *      when it is the frame's, and the same frame with one bit flipped
 *      (which bit: from the input) is refused.  The payload then goes to
 *      its parser whatever its tag (SPAWN: net_spawn_decode, LAZY:
 *      net_ranges_parse), so the fuzzer reaches the parsers behind the
 *      tag check without forging tags;
 *   1: a SPAWN payload through net_spawn_decode, then re-encoded: a
 *      decoded request must encode back to the same bytes;
 *   2: a LAZY payload through net_ranges_parse: accepted ranges must be
 *      page aligned, non-empty, ascending and disjoint;
 *   3: a RESUME payload through net_resume_parse: accepted, it has
 *      exactly the regions its length holds, the first two non-empty,
 *      the others as LAZY's.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

int fuzz_one(const uint8_t *data, size_t size);

/* A fixed session key: the tag check is exercised, not a secret. */
static const uint8_t fuzz_key[NET_KEY_LEN] = { 0x5a, 0x17, 0x42 };

/* Poly1305, or AES-GCM where the CPU has it (picked per input). */
static unsigned fuzz_kind;

/* The tag of frame f (header, then len payload bytes) into out. */
static void
frame_tag(const uint8_t *f, uint32_t len, uint8_t out[NET_TAG_LEN])
{
	struct net_tag t;

	net_tag_begin(&t, fuzz_kind, fuzz_key, f);
	net_tag_update(&t, f + NET_HDR_LEN, len);
	net_tag_final(&t, out);
}

/* Frame f (header, len payload bytes, its input's tag): the tag check
 * agrees with the tag, and refuses the frame with bit `bit` flipped. */
static void
fuzz_tag(const uint8_t *f, uint32_t len, size_t bit)
{
	static uint8_t copy[NET_HDR_LEN + NET_MAX_FRAME + NET_TAG_LEN];
	uint8_t want[NET_TAG_LEN];
	size_t n = NET_HDR_LEN + len + NET_TAG_LEN;
	struct net_tag t;
	int r;

	frame_tag(f, len, want);
	net_tag_begin(&t, fuzz_kind, fuzz_key, f);
	net_tag_update(&t, f + NET_HDR_LEN, len);
	r = net_tag_check(&t, f + NET_HDR_LEN + len);
	if (r != (memcmp(want, f + NET_HDR_LEN + len, NET_TAG_LEN) ?
		  -EKEYREJECTED : 0))
		abort();	/* the check disagrees with the tag */
	memcpy(copy, f, n - NET_TAG_LEN);
	memcpy(copy + n - NET_TAG_LEN, want, NET_TAG_LEN);
	copy[bit / 8 % n] ^= (uint8_t)(1u << bit % 8);
	net_tag_begin(&t, fuzz_kind, fuzz_key, copy);
	net_tag_update(&t, copy + NET_HDR_LEN, len);
	if (net_tag_check(&t, copy + n - NET_TAG_LEN) == 0)
		abort();	/* an altered frame passed */
}

/* The parser of a payload of this type, if it has one of its own. */
static void
fuzz_payload(unsigned type, const uint8_t *p, uint32_t len)
{
	static struct net_spawn s;
	static uint64_t r[NET_MAX_REGIONS][2];
	static uint8_t buf[NET_MAX_SPAWN + 1];
	size_t k;

	if (type == NET_SPAWN) {
		memcpy(buf, p, len);
		net_spawn_decode(buf, len, &s);
	} else if (type == NET_LAZY) {
		net_ranges_parse(p, len, r, NET_MAX_REGIONS, &k);
	}
}

static void
fuzz_frames(const uint8_t *p, size_t n)
{
	struct net_hdr h;
	uint32_t seq = 0;

	if (n < 1)
		return;
	fuzz_kind = (p[0] & 1) && net_tag_gcm_ok() ? NET_TAG_AESGCM :
		    NET_TAG_POLY1305;
	p++;
	n--;
	while (n >= NET_HDR_LEN) {
		if (net_hdr_parse(p, &h, seq))
			return;
		if (h.len > net_max_len(h.type))
			abort();	/* a limit was not enforced */
		if (h.len + NET_TAG_LEN > n - NET_HDR_LEN)
			return;		/* truncated: the reader waits */
		fuzz_tag(p, h.len, (size_t)p[NET_HDR_LEN + h.len] * 251 +
			 p[NET_HDR_LEN + h.len + 1]);
		fuzz_payload(h.type, p + NET_HDR_LEN, h.len);
		p += NET_HDR_LEN + h.len + NET_TAG_LEN;
		n -= NET_HDR_LEN + h.len + NET_TAG_LEN;
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
	static int ready;

	if (!ready && net_crypto_init() == 0)
		ready = 1;
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
