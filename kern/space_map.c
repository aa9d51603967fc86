/*
 * space_map.c -- which memory of a space is merged.
 *
 * Merged: private writable mappings that are the executable's data/bss,
 * the [heap], or anonymous.  Never merged: stacks, vdso/vvar, files other
 * than the executable, shared mappings, the runtime's own mappings
 * (rt->own), and "system" memory recorded once before main (rt->sys):
 * every library's writable segments (libc's stdio/locale/malloc state),
 * anonymous mappings that existed before main next to a library (bss,
 * ld.so's link maps) or holding the thread pointer (TLS), the pages
 * around the thread pointer, and a sanitizer's shadow memory.
 * Exclusion is by address range, so a user mapping that the kernel glues
 * onto one of those VMAs is still merged.
 */
#define KERN_INTERNAL
#define LOG_PREFIX "map: "
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "rt.h"

#define MAPS_MAX	(64UL << 20)

struct maps_line {
	uintptr_t lo;
	uintptr_t hi;
	char perms[5];
	const char *path;	/* "" for anonymous; not NUL-terminated */
	size_t pathlen;
};

/*
 * Read /proc/self/maps whole into runtime memory.  Sets *len; the caller
 * rt_munmaps *cap bytes.  Returns the buffer or NULL (errno set).
 */
static char *
maps_read(size_t *len, size_t *cap)
{
	size_t n = 0, sz = 256UL << 10;
	char *buf;
	int fd;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t r;

		n = 0;
		buf = rt_mmap(sz, 0);
		if (!buf)
			goto err_close;
		while ((r = pread(fd, buf + n, sz - n, (off_t)n)) > 0)
			n += (size_t)r;
		if (r < 0)
			goto err_unmap;
		if (n < sz)
			break;
		rt_munmap(buf, sz);
		if (sz >= MAPS_MAX) {
			errno = E2BIG;
			goto err_close;
		}
		sz *= 2;
	}
	close(fd);
	*len = n;
	*cap = sz;
	return buf;

err_unmap:
	rt_munmap(buf, sz);
err_close:
	close(fd);
	return NULL;
}

/* Parse one maps line at *p (advancing *p past it). 0, or -1 at the end. */
static int
maps_next(const char **p, const char *end, struct maps_line *ml)
{
	const char *s = *p, *nl;
	char *q;
	int field;

	if (s >= end)
		return -1;
	nl = memchr(s, '\n', (size_t)(end - s));
	if (!nl)
		nl = end;
	*p = nl + 1;
	ml->lo = strtoul(s, &q, 16);
	ml->hi = strtoul(q + 1, &q, 16);
	memcpy(ml->perms, q + 1, 4);
	ml->perms[4] = 0;
	/* Skip perms, offset, dev, inode: the path follows them. */
	s = q + 1;
	for (field = 0; field < 4 && s < nl; field++) {
		while (s < nl && *s != ' ')
			s++;
		while (s < nl && *s == ' ')
			s++;
	}
	ml->path = s;
	ml->pathlen = (size_t)(nl - s);
	return 0;
}

static int
path_is(const struct maps_line *ml, const char *name)
{
	size_t n = strlen(name);

	return ml->pathlen == n && memcmp(ml->path, name, n) == 0;
}

/* dl_iterate_phdr callback: record writable segments and .got.plt. */
static int
phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	int *first = data, is_exe = *first;
	struct rt_rangeset *set = is_exe ? &rt->exe : &rt->sys;
	const ElfW(Dyn) *dyn = NULL;
	uintptr_t pltgot = 0, pltrelsz = 0;
	int i;

	(void)size;
	*first = 0;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)lo;
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
			continue;
		rt_range_add(set, PAGE_DOWN(lo), PAGE_UP(lo + ph->p_memsz));
	}
	if (!is_exe || !dyn)
		return 0;
	/* Lazy binding writes .got.plt on a function's first call, in any
	 * space: those bytes are never merged. */
	for (; dyn->d_tag != DT_NULL; dyn++) {
		if (dyn->d_tag == DT_PLTGOT)
			pltgot = dyn->d_un.d_ptr;
		else if (dyn->d_tag == DT_PLTRELSZ)
			pltrelsz = dyn->d_un.d_val;
	}
	if (pltgot && pltgot < info->dlpi_addr)
		pltgot += info->dlpi_addr;
	if (pltgot)
		rt_range_add(&rt->ignore, pltgot, pltgot + sizeof(void *) *
			     (3 + pltrelsz / sizeof(ElfW(Rela))));
	return 0;
}

/* The runtime's own variables in the program's data (kern.h). */
extern char __start_det_private[] __attribute__((weak));
extern char __stop_det_private[] __attribute__((weak));

/* Add to s the parts of [lo, hi) outside every range of t. */
static void
range_add_minus(struct rt_rangeset *s, uintptr_t lo, uintptr_t hi,
		const struct rt_rangeset *t)
{
	size_t i;

	for (i = 0; i < t->n && lo < hi; i++) {
		if (t->r[i].hi <= lo)
			continue;
		if (t->r[i].lo >= hi)
			break;
		if (t->r[i].lo > lo)
			rt_range_add(s, lo, t->r[i].lo);
		lo = t->r[i].hi;
	}
	if (lo < hi)
		rt_range_add(s, lo, hi);
}

/*
 * Record, before main, the memory that is never merged (see the top of
 * this file) and the executable's own writable segments.  Returns 0 or
 * -errno.
 */
int
map_sys_init(void)
{
	struct maps_line ml, prev, next;
	struct rt_rangeset keep;
	const char *p, *end;
	size_t len, cap, i;
	uintptr_t tp;
	char *buf;
	ssize_t n;
	int first = 1;

	n = readlink("/proc/self/exe", rt->exe_path, sizeof(rt->exe_path) - 1);
	if (n < 0)
		return -errno;
	rt->exe_path[n] = 0;
	dl_iterate_phdr(phdr_cb, &first);

	__asm__ volatile("mov %%fs:0, %0" : "=r"(tp));
	buf = maps_read(&len, &cap);
	if (!buf)
		return -errno;
	/* Anonymous memory from before main that sits against a library
	 * (its bss, ld.so's allocations) or holds the thread pointer (TLS),
	 * less the executable's bss and the runtime's own mappings (this
	 * very buffer among them: it is freed below, and its addresses may
	 * later hold user memory).  Other early mappings (a sanitizer's
	 * heap, a program constructor's) are the program's: merged. */
	keep = rt->own;
	for (i = 0; i < rt->exe.n; i++)
		rt_range_add(&keep, rt->exe.r[i].lo, rt->exe.r[i].hi);
	memset(&prev, 0, sizeof(prev));
	for (p = buf, end = buf + len; maps_next(&p, end, &ml) == 0;) {
		const char *q = p;
		int lib = 0;

		if (ml.pathlen == 0 && ml.perms[1] == 'w') {
			lib = prev.hi == ml.lo && prev.pathlen > 0 &&
			      prev.path[0] == '/';
			if (maps_next(&q, end, &next) == 0)
				lib |= next.lo == ml.hi && next.pathlen > 0 &&
				       next.path[0] == '/';
			if (lib || (tp >= ml.lo && tp < ml.hi))
				range_add_minus(&rt->sys, ml.lo, ml.hi, &keep);
		}
		prev = ml;
	}
	rt_munmap(buf, cap);
#ifdef __SANITIZE_ADDRESS__
	/* AddressSanitizer's shadow memory (x86-64 layout). */
	rt_range_add(&rt->sys, 0x00007fff8000UL, 0x10007fff8000UL);
#endif

	rt_range_add(&rt->sys, PAGE_DOWN(tp) - 4 * PAGE_SIZE,
		     PAGE_UP(tp) + 2 * PAGE_SIZE);
	if ((uintptr_t)__start_det_private &&
	    (uintptr_t)__stop_det_private > (uintptr_t)__start_det_private)
		rt_range_add(&rt->ignore, (uintptr_t)__start_det_private,
			     (uintptr_t)__stop_det_private);
	if (rt->sys.overflow || rt->exe.overflow || rt->ignore.overflow ||
	    keep.overflow)
		return -ENOSPC;
	return 0;
}

/*
 * Classify a writable private mapping; -1 when it is never merged.  A
 * read-only mapping inside the regions this space tracks counts as
 * writable: the mprotect backend made it read-only, not the program.
 */
static int
map_kind(const struct maps_line *ml)
{
	const struct region *r = rt->map ? map_find(rt->map, ml->lo) : NULL;
	int tracked = r && ml->hi <= r->hi;

	if (strcmp(ml->perms, "rw-p") != 0 &&
	    !(tracked && strcmp(ml->perms, "r--p") == 0))
		return -1;
	if (ml->pathlen == 0)
		return REGION_ANON;
	if (path_is(ml, "[heap]"))
		return REGION_HEAP;
	if (path_is(ml, rt->exe_path))
		return REGION_EXE;
	return -1;
}

/* Append the parts of [lo, hi) outside `skip` to m (capacity cap).
 * 0, or -ENOMEM when they do not fit. */
static int
map_emit(struct regions *m, size_t cap, uintptr_t lo, uintptr_t hi,
	 int kind, const struct rt_rangeset *skip)
{
	struct rt_rangeset pieces;
	size_t i;

	pieces.n = 0;
	pieces.overflow = 0;
	range_add_minus(&pieces, lo, hi, skip);
	if (pieces.overflow || m->n + pieces.n > cap)
		return -ENOMEM;
	for (i = 0; i < pieces.n; i++) {
		struct region *r = &m->r[m->n++];

		r->lo = pieces.r[i].lo;
		r->hi = pieces.r[i].hi;
		r->first = m->npages;
		r->kind = kind;
		if (kind == REGION_ANON && rt_range_find(&rt->exe, r->lo) >= 0)
			r->kind = REGION_EXE;
		m->npages += (r->hi - r->lo) >> PAGE_SHIFT;
	}
	return 0;
}

/*
 * Collect the merged regions of the calling space, now, into runtime
 * memory (*out, freed with map_free).  Returns 0 or -errno.
 */
int
map_collect(struct regions **out)
{
	struct rt_rangeset skip;
	const char *p, *end;
	struct maps_line ml;
	struct regions *m;
	size_t len, cap, lines = 0, mcap, i, bytes;
	char *buf;

	buf = maps_read(&len, &cap);
	if (!buf)
		return -errno;
	for (i = 0; i < len; i++)
		lines += buf[i] == '\n';
	skip = rt->own;
	for (i = 0; i < rt->sys.n; i++)
		rt_range_add(&skip, rt->sys.r[i].lo, rt->sys.r[i].hi);
	if (skip.overflow) {
		rt_munmap(buf, cap);
		return -ENOMEM;
	}

	mcap = lines + skip.n + 1;
	bytes = sizeof(*m) + mcap * sizeof(m->r[0]);
	m = rt_mmap(bytes, 0);
	if (!m) {
		rt_munmap(buf, cap);
		return -ENOMEM;
	}
	m->bytes = bytes;
	for (p = buf, end = buf + len; maps_next(&p, end, &ml) == 0;) {
		int kind = map_kind(&ml);

		if (kind >= 0 && map_emit(m, mcap, ml.lo, ml.hi, kind, &skip)) {
			map_free(m);
			rt_munmap(buf, cap);
			return -ENOMEM;
		}
	}
	rt_munmap(buf, cap);
	*out = m;
	return 0;
}

void
map_free(struct regions *m)
{
	if (m)
		rt_munmap(m, m->bytes);
}

/* The region of m containing address a, or NULL. */
const struct region *
map_find(const struct regions *m, uintptr_t a)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (a < m->r[mid].lo)
			hi = mid;
		else if (a >= m->r[mid].hi)
			lo = mid + 1;
		else
			return &m->r[mid];
	}
	return NULL;
}
