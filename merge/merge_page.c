/*
 * merge_page.c -- three-way byte merge of snap/child/parent buffers.
 *
 * Two implementations of merge_conflicts and merge_apply: an AVX2 one
 * (compiled with a target attribute, chosen at run time) and a portable
 * one on 64-bit words.  Both work on 64-byte chunks: a chunk yields a
 * 64-bit mask, one bit per byte, which the shared run tracker turns into
 * maximal runs, so runs coalesce across chunk boundaries for free.  A
 * trailing partial chunk is copied into zero-padded local buffers; the
 * padding is equal in all three, so it never differs or conflicts.
 *
 * Nothing here allocates or makes a system call.  The only mutable static
 * is the force-scalar flag set by merge_impl().
 */
#include <string.h>

#include "merge.h"

#if defined(__x86_64__) || defined(__i386__)
#define MERGE_X86 1
#include <immintrin.h>
#endif

#define CHUNK 64
#define ONES8 0x0101010101010101ULL
#define LO7 0x7f7f7f7f7f7f7f7fULL
#define HI8 0x8080808080808080ULL
#define GATHER 0x0102040810204080ULL	/* byte i bit 0 -> bit 56+i */

#define INLINE static inline __attribute__((always_inline))

static int merge_forced_scalar;

/* Accumulates conflict runs from per-chunk bitmasks. */
struct racc {
	struct merge_run *runs;
	size_t max;	/* capacity of runs[] */
	size_t n;	/* runs seen so far (stored or not) */
	size_t start;	/* start of the open run, when in != 0 */
	int in;		/* a run is open */
};

/* Close the open run at byte offset end (exclusive). */
INLINE void
racc_close(struct racc *a, size_t end)
{
	if (a->n < a->max) {
		a->runs[a->n].off = a->start;
		a->runs[a->n].len = end - a->start;
	}
	a->n++;
	a->in = 0;
}

/*
 * Feed the conflict mask of the 64 bytes at offset base (bit i set when
 * byte base+i conflicts).  Chunks must be fed in ascending order.
 */
INLINE void
racc_mask(struct racc *a, uint64_t m, size_t base)
{
	unsigned pos;

	for (;;) {
		if (a->in) {
			if (m == ~0ULL)
				return;	/* open run spans the chunk */
			pos = (unsigned)__builtin_ctzll(~m);
			racc_close(a, base + pos);
			m &= ~0ULL << pos;	/* bits below pos were set */
		}
		if (m == 0)
			return;
		pos = (unsigned)__builtin_ctzll(m);
		a->start = base + pos;
		a->in = 1;
		m |= (1ULL << pos) - 1;	/* so ~m's lowest bit ends it */
	}
}

/* Load 8 bytes, byte i in bits 8i..8i+7, from any alignment. */
INLINE uint64_t
ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* Store v as written by ld64. */
INLINE void
st64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, sizeof(v));
}

/* Bit 7 of each byte of the result is set iff that byte of x is nonzero. */
INLINE uint64_t
nzhi(uint64_t x)
{
	return (((x & LO7) + LO7) | x) & HI8;
}

/* Conflict mask of one 64-byte chunk, portable version. */
INLINE uint64_t
conf64_scalar(const uint8_t *s, const uint8_t *c, const uint8_t *p)
{
	uint64_t hi[CHUNK / 8], any = 0, m = 0, sw;
	unsigned w;

	for (w = 0; w < CHUNK / 8; w++) {
		sw = ld64(s + 8 * w);
		hi[w] = nzhi(ld64(c + 8 * w) ^ sw) & nzhi(ld64(p + 8 * w) ^ sw);
		any |= hi[w];
	}
	if (any == 0)
		return 0;	/* the common case: skip the gathers */
	for (w = 0; w < CHUNK / 8; w++)
		m |= (((hi[w] >> 7) * GATHER) >> 56) << (8 * w);
	return m;
}

/* Portable merge_conflicts; same contract. */
static size_t
conflicts_scalar(const uint8_t *s, const uint8_t *c, const uint8_t *p,
		 size_t len, struct merge_run *runs, size_t maxruns)
{
	struct racc a = { runs, maxruns, 0, 0, 0 };
	uint8_t ts[CHUNK] = { 0 }, tc[CHUNK] = { 0 }, tp[CHUNK] = { 0 };
	size_t i;

	for (i = 0; i + CHUNK <= len; i += CHUNK)
		racc_mask(&a, conf64_scalar(s + i, c + i, p + i), i);
	if (i < len) {
		memcpy(ts, s + i, len - i);
		memcpy(tc, c + i, len - i);
		memcpy(tp, p + i, len - i);
		racc_mask(&a, conf64_scalar(ts, tc, tp), i);
	}
	if (a.in)
		racc_close(&a, len);
	return a.n;
}

/*
 * Portable merge_apply; same contract.  Only words that take at least one
 * child byte are stored, so untouched parent memory is never written.
 */
static size_t
apply_scalar(uint8_t *p, const uint8_t *s, const uint8_t *c, size_t len)
{
	uint64_t sw, x, take, pw;
	size_t i, n = 0;

	for (i = 0; i + 8 <= len; i += 8) {
		sw = ld64(s + i);
		x = ld64(c + i) ^ sw;
		if (x == 0)
			continue;
		pw = ld64(p + i);
		take = nzhi(x) & ~nzhi(pw ^ sw);
		if (take == 0)
			continue;
		/* where taken, pw == sw, so pw ^ x == child */
		st64(p + i, pw ^ (x & ((take >> 7) * 0xff)));
		n += ((take >> 7) * ONES8) >> 56;
	}
	for (; i < len; i++) {
		if (c[i] != s[i] && p[i] == s[i]) {
			p[i] = c[i];
			n++;
		}
	}
	return n;
}

#ifdef MERGE_X86
#define AVX2 __attribute__((target("avx2,popcnt")))
#define AVX2_INLINE static inline \
	__attribute__((always_inline, target("avx2,popcnt")))

/* Conflict mask of one 64-byte chunk, AVX2 version. */
AVX2_INLINE uint64_t
conf64_avx2(const uint8_t *s, const uint8_t *c, const uint8_t *p)
{
	__m256i s0 = _mm256_loadu_si256((const __m256i *)s);
	__m256i s1 = _mm256_loadu_si256((const __m256i *)(s + 32));
	__m256i c0 = _mm256_loadu_si256((const __m256i *)c);
	__m256i c1 = _mm256_loadu_si256((const __m256i *)(c + 32));
	__m256i p0 = _mm256_loadu_si256((const __m256i *)p);
	__m256i p1 = _mm256_loadu_si256((const __m256i *)(p + 32));
	__m256i e0, e1;

	/* a byte is clean when either side still equals snap */
	e0 = _mm256_or_si256(_mm256_cmpeq_epi8(c0, s0),
			     _mm256_cmpeq_epi8(p0, s0));
	e1 = _mm256_or_si256(_mm256_cmpeq_epi8(c1, s1),
			     _mm256_cmpeq_epi8(p1, s1));
	return ~((uint64_t)(uint32_t)_mm256_movemask_epi8(e0) |
		 (uint64_t)(uint32_t)_mm256_movemask_epi8(e1) << 32);
}

/* AVX2 merge_conflicts; same contract.  Needs avx2 at run time. */
AVX2 static size_t
conflicts_avx2(const uint8_t *s, const uint8_t *c, const uint8_t *p,
	       size_t len, struct merge_run *runs, size_t maxruns)
{
	struct racc a = { runs, maxruns, 0, 0, 0 };
	uint8_t ts[CHUNK] = { 0 }, tc[CHUNK] = { 0 }, tp[CHUNK] = { 0 };
	size_t i;

	for (i = 0; i + CHUNK <= len; i += CHUNK)
		racc_mask(&a, conf64_avx2(s + i, c + i, p + i), i);
	if (i < len) {
		memcpy(ts, s + i, len - i);
		memcpy(tc, c + i, len - i);
		memcpy(tp, p + i, len - i);
		racc_mask(&a, conf64_avx2(ts, tc, tp), i);
	}
	if (a.in)
		racc_close(&a, len);
	return a.n;
}

/*
 * AVX2 merge_apply; same contract.  Needs avx2 at run time.  A 64-byte
 * chunk is stored only when it takes at least one child byte, so a page
 * the child did not change is never written.
 */
AVX2 static size_t
apply_avx2(uint8_t *p, const uint8_t *s, const uint8_t *c, size_t len)
{
	__m256i s0, s1, c0, c1, p0, p1, t0, t1;
	uint64_t m;
	size_t i, n = 0;

	for (i = 0; i + CHUNK <= len; i += CHUNK) {
		s0 = _mm256_loadu_si256((const __m256i *)(s + i));
		s1 = _mm256_loadu_si256((const __m256i *)(s + i + 32));
		c0 = _mm256_loadu_si256((const __m256i *)(c + i));
		c1 = _mm256_loadu_si256((const __m256i *)(c + i + 32));
		t0 = _mm256_or_si256(_mm256_xor_si256(s0, c0),
				     _mm256_xor_si256(s1, c1));
		if (_mm256_testz_si256(t0, t0))
			continue;	/* child left the chunk alone */
		p0 = _mm256_loadu_si256((const __m256i *)(p + i));
		p1 = _mm256_loadu_si256((const __m256i *)(p + i + 32));
		/* take = child changed && parent did not */
		t0 = _mm256_andnot_si256(_mm256_cmpeq_epi8(c0, s0),
					 _mm256_cmpeq_epi8(p0, s0));
		t1 = _mm256_andnot_si256(_mm256_cmpeq_epi8(c1, s1),
					 _mm256_cmpeq_epi8(p1, s1));
		m = (uint64_t)(uint32_t)_mm256_movemask_epi8(t0) |
		    (uint64_t)(uint32_t)_mm256_movemask_epi8(t1) << 32;
		if (m == 0)
			continue;
		_mm256_storeu_si256((__m256i *)(p + i),
				    _mm256_blendv_epi8(p0, c0, t0));
		_mm256_storeu_si256((__m256i *)(p + i + 32),
				    _mm256_blendv_epi8(p1, c1, t1));
		n += (size_t)__builtin_popcountll(m);
	}
	if (i < len)
		n += apply_scalar(p + i, s + i, c + i, len - i);
	return n;
}
#endif /* MERGE_X86 */

/* 1 when the AVX2 path may be used on this CPU and is not forced off. */
static int
use_avx2(void)
{
#ifdef MERGE_X86
	if (merge_forced_scalar)
		return 0;
	__builtin_cpu_init();	/* idempotent; safe before constructors */
	return __builtin_cpu_supports("avx2") &&
	       __builtin_cpu_supports("popcnt");
#else
	return 0;
#endif
}

/* See merge.h.  len == 0 is equal even for NULL pointers. */
int
merge_equal(const void *a, const void *b, size_t len)
{
	/* glibc's memcmp is already AVX2/EVEX-vectorised and early-exits */
	return len == 0 || memcmp(a, b, len) == 0;
}

/* See merge.h.  Dispatches to the AVX2 or the portable scan. */
size_t
merge_conflicts(const uint8_t *snap, const uint8_t *child,
		const uint8_t *parent, size_t len,
		struct merge_run *runs, size_t maxruns)
{
#ifdef MERGE_X86
	if (use_avx2())
		return conflicts_avx2(snap, child, parent, len, runs, maxruns);
#endif
	return conflicts_scalar(snap, child, parent, len, runs, maxruns);
}

/* See merge.h.  Dispatches to the AVX2 or the portable merge. */
size_t
merge_apply(uint8_t *parent, const uint8_t *snap, const uint8_t *child,
	    size_t len)
{
#ifdef MERGE_X86
	if (use_avx2())
		return apply_avx2(parent, snap, child, len);
#endif
	return apply_scalar(parent, snap, child, len);
}

/* See merge.h: the obviously-correct oracle for merge_conflicts. */
size_t
merge_conflicts_ref(const uint8_t *snap, const uint8_t *child,
		    const uint8_t *parent, size_t len,
		    struct merge_run *runs, size_t maxruns)
{
	size_t i, n = 0, start = 0;
	int in = 0, cf;

	for (i = 0; i < len; i++) {
		cf = child[i] != snap[i] && parent[i] != snap[i];
		if (cf && !in) {
			start = i;
			in = 1;
		} else if (!cf && in) {
			if (n < maxruns) {
				runs[n].off = start;
				runs[n].len = i - start;
			}
			n++;
			in = 0;
		}
	}
	if (in) {
		if (n < maxruns) {
			runs[n].off = start;
			runs[n].len = len - start;
		}
		n++;
	}
	return n;
}

/* See merge.h: the obviously-correct oracle for merge_apply. */
size_t
merge_apply_ref(uint8_t *parent, const uint8_t *snap, const uint8_t *child,
		size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (child[i] != snap[i] && parent[i] == snap[i]) {
			parent[i] = child[i];
			n++;
		}
	}
	return n;
}

/* See merge.h.  Sets the only mutable static in this file. */
const char *
merge_impl(int force_scalar)
{
	merge_forced_scalar = force_scalar != 0;
	return use_avx2() ? "avx2" : "scalar";
}
