/*
 * net_spawn.c -- the identity of a program, as a SPAWN payload: the
 * executable and every library mapped (path, xxh3-128 of the file), the
 * CPU features of the machine it runs on, its argv and environment.  A
 * node runs nothing unless all of it matches (net_spawn_check).
 *
 * Payload: str exe, 16 hash, 5 x u32 cpu, u32 nlibs, nlibs x (str path,
 * 16 hash), u32 argc, argc x str, u32 envc, envc x str, str cwd, str
 * execfn; str = u32 len
 * (including a final NUL, 1..NET_MAX_STR) then the bytes.  Little
 * endian.
 */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "net.h"

/* A bounded cursor over a payload. */
struct cur {
	uint8_t *p;
	size_t left;
	int err;
};

static void
put_bytes(struct cur *c, const void *p, size_t n)
{
	if (c->err || n > c->left) {
		c->err = -EMSGSIZE;
		return;
	}
	memcpy(c->p, p, n);
	c->p += n;
	c->left -= n;
}

static void
put_u32(struct cur *c, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };

	put_bytes(c, b, 4);
}

static void
put_str(struct cur *c, const char *s)
{
	size_t n = strlen(s) + 1;

	if (n > NET_MAX_STR) {
		c->err = -EMSGSIZE;
		return;
	}
	put_u32(c, (uint32_t)n);
	put_bytes(c, s, n);
}

static const uint8_t *
get_bytes(struct cur *c, size_t n)
{
	const uint8_t *p = c->p;

	if (c->err || n > c->left) {
		c->err = -EPROTO;
		return NULL;
	}
	c->p += n;
	c->left -= n;
	return p;
}

static uint32_t
get_u32(struct cur *c)
{
	const uint8_t *b = get_bytes(c, 4);

	if (!b)
		return 0;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

/* A string: its length (with the NUL) within limits, no NUL inside. */
static const char *
get_str(struct cur *c)
{
	uint32_t n = get_u32(c);
	const uint8_t *p;

	if (c->err)
		return NULL;
	if (n == 0 || n > NET_MAX_STR) {
		c->err = -EMSGSIZE;
		return NULL;
	}
	p = get_bytes(c, n);
	if (p && (p[n - 1] != 0 || memchr(p, 0, n - 1))) {
		c->err = -EPROTO;
		return NULL;
	}
	return (const char *)p;
}

/* see net.h */
long
net_spawn_encode(const struct net_spawn *s, uint8_t *buf, size_t cap)
{
	struct cur c = { .p = buf, .left = cap };
	uint32_t i;

	if (s->nlibs > NET_MAX_LIBS || s->argc > NET_MAX_ARGS ||
	    s->envc > NET_MAX_ARGS)
		return -EMSGSIZE;
	put_str(&c, s->exe);
	put_bytes(&c, s->exe_hash, 16);
	for (i = 0; i < 5; i++)
		put_u32(&c, s->cpu[i]);
	put_u32(&c, s->nlibs);
	for (i = 0; i < s->nlibs; i++) {
		put_str(&c, s->libs[i].path);
		put_bytes(&c, s->libs[i].hash, 16);
	}
	put_u32(&c, s->argc);
	for (i = 0; i < s->argc; i++)
		put_str(&c, s->argv[i]);
	put_u32(&c, s->envc);
	for (i = 0; i < s->envc; i++)
		put_str(&c, s->envp[i]);
	put_str(&c, s->cwd);
	put_str(&c, s->execfn);
	return c.err ? c.err : (long)(cap - c.left);
}

/* see net.h */
int
net_spawn_decode(uint8_t *buf, size_t len, struct net_spawn *s)
{
	struct cur c = { .p = buf, .left = len };
	const uint8_t *h;
	uint32_t i;

	memset(s, 0, sizeof(*s));
	s->exe = get_str(&c);
	h = get_bytes(&c, 16);
	if (h)
		memcpy(s->exe_hash, h, 16);
	for (i = 0; i < 5; i++)
		s->cpu[i] = get_u32(&c);
	s->nlibs = get_u32(&c);
	if (s->nlibs > NET_MAX_LIBS)
		return -EMSGSIZE;
	for (i = 0; i < s->nlibs && !c.err; i++) {
		s->libs[i].path = get_str(&c);
		h = get_bytes(&c, 16);
		if (h)
			memcpy(s->libs[i].hash, h, 16);
	}
	s->argc = get_u32(&c);
	if (s->argc > NET_MAX_ARGS || (!c.err && s->argc == 0))
		return c.err ? c.err : s->argc ? -EMSGSIZE : -EPROTO;
	for (i = 0; i < s->argc && !c.err; i++)
		s->argv[i] = get_str(&c);
	s->envc = get_u32(&c);
	if (s->envc > NET_MAX_ARGS)
		return -EMSGSIZE;
	for (i = 0; i < s->envc && !c.err; i++)
		s->envp[i] = get_str(&c);
	s->cwd = get_str(&c);
	s->execfn = get_str(&c);
	if (!c.err && c.left)
		c.err = -EPROTO;	/* trailing bytes */
	return c.err;
}

/* see net.h */
void
net_cpu_features(uint32_t cpu[5])
{
	unsigned a, b, c, d;

	memset(cpu, 0, 5 * sizeof(*cpu));
	if (__get_cpuid(1, &a, &b, &c, &d)) {
		/* Bit 27 of ecx (OSXSAVE) is a state, not a feature. */
		cpu[0] = c & ~(1u << 27);
		cpu[1] = d;
	}
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
		cpu[2] = b;
		cpu[3] = c;
		cpu[4] = d;
	}
}

/* see net.h */
int
net_cpu_covers(const uint32_t have[5], const uint32_t need[5])
{
	int i;

	for (i = 0; i < 5; i++)
		if ((need[i] & have[i]) != need[i])
			return 0;
	return 1;
}

/* see net.h */
int
net_file_hash(const char *path, uint8_t out[16])
{
	XXH128_hash_t h;
	struct stat st;
	void *p = NULL;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (st.st_size > 0) {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
			 fd, 0);
		if (p == MAP_FAILED) {
			close(fd);
			return -errno;
		}
	}
	h = XXH3_128bits(p, (size_t)st.st_size);
	if (p)
		munmap(p, (size_t)st.st_size);
	close(fd);
	memcpy(out, &h.low64, 8);
	memcpy(out + 8, &h.high64, 8);
	return 0;
}

/* One file: present and the same bytes; else why[] says so. */
static int
check_file(const char *path, const uint8_t want[16], char *why, size_t len)
{
	uint8_t h[16];
	int err = net_file_hash(path, h);

	if (err) {
		snprintf(why, len, "%s: %s on this node", path,
			 strerror(-err));
		return err;
	}
	if (memcmp(h, want, 16)) {
		snprintf(why, len, "%s differs on this node (another build "
			 "or version)", path);
		return -ESTALE;
	}
	return 0;
}

/* see net.h */
int
net_spawn_check(const struct net_spawn *s, char *why, size_t len)
{
	uint32_t have[5];
	uint32_t i;
	int err;

	if (s->exe[0] != '/') {
		snprintf(why, len, "%s: not an absolute path", s->exe);
		return -EINVAL;
	}
	err = check_file(s->exe, s->exe_hash, why, len);
	for (i = 0; !err && i < s->nlibs; i++)
		err = check_file(s->libs[i].path, s->libs[i].hash, why, len);
	if (err)
		return err;
	net_cpu_features(have);
	if (!net_cpu_covers(have, s->cpu)) {
		snprintf(why, len, "this node's CPU lacks features the "
			 "program's machine has (cpuid %08x %08x %08x %08x "
			 "%08x)", s->cpu[0] & ~have[0], s->cpu[1] & ~have[1],
			 s->cpu[2] & ~have[2], s->cpu[3] & ~have[3],
			 s->cpu[4] & ~have[4]);
		return -ENOEXEC;
	}
	return 0;
}
