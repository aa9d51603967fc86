/*
 * sandbox_vdso.c -- time and randomness that never enter the kernel.
 *
 * clock_gettime, gettimeofday, time, getcpu (and getrandom on new
 * kernels) run in the vDSO without a system call, so seccomp never sees
 * them.  Each entry point is overwritten with a jump to the runtime's
 * deterministic version (movabs rax, imm64; jmp rax: 12 bytes, shorter
 * than every entry).  The kernel refuses to mprotect one vDSO page, so
 * the whole [vdso] area is made writable, patched, and made executable
 * again.  Children inherit the patched pages.
 */
#define KERN_INTERNAL
#include <elf.h>
#include <link.h>
#include <errno.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>

#include "sandbox.h"
#include "space.h"

static int
fake_clock_gettime(clockid_t clk, struct timespec *ts)
{
	(void)clk;
	if (ts)
		sandbox_logical_time(ts);
	return 0;
}

static int
fake_gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;

	(void)tz;
	sandbox_logical_time(&ts);
	if (tv) {
		tv->tv_sec = ts.tv_sec;
		tv->tv_usec = ts.tv_nsec / 1000;
	}
	return 0;
}

static time_t
fake_time(time_t *t)
{
	struct timespec ts;

	sandbox_logical_time(&ts);
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
}

static int
fake_getcpu(unsigned *cpu, unsigned *node, void *cache)
{
	(void)cache;
	if (cpu)
		*cpu = 0;
	if (node)
		*node = 0;
	return 0;
}

static long
fake_getrandom(void *buf, size_t len, unsigned flags, void *st, size_t sl)
{
	(void)flags;
	(void)st;
	(void)sl;
	sandbox_random_fill(buf, len);
	return (long)len;
}

static const struct {
	const char *name;
	void *fn;
} fakes[] = {
	{ "__vdso_clock_gettime", (void *)fake_clock_gettime },
	{ "__vdso_gettimeofday", (void *)fake_gettimeofday },
	{ "__vdso_time", (void *)fake_time },
	{ "__vdso_getcpu", (void *)fake_getcpu },
	{ "__vdso_getrandom", (void *)fake_getrandom },
};

/* Find the vDSO's dynamic symbol table; 0 or -ENOENT. */
static int
vdso_symbols(uintptr_t base, ElfW(Sym) **sym, const char **str,
	     unsigned *nsym, uintptr_t *load)
{
	ElfW(Ehdr) *eh = (ElfW(Ehdr) *)base;
	ElfW(Phdr) *ph = (ElfW(Phdr) *)(base + eh->e_phoff);
	ElfW(Dyn) *dyn = NULL;
	unsigned *hash = NULL;
	int i;

	*load = base;
	for (i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD)
			*load = base + ph[i].p_offset - ph[i].p_vaddr;
		else if (ph[i].p_type == PT_DYNAMIC)
			dyn = (ElfW(Dyn) *)(base + ph[i].p_offset);
	}
	if (!dyn)
		return -ENOENT;
	*sym = NULL;
	*str = NULL;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		if (dyn->d_tag == DT_SYMTAB)
			*sym = (ElfW(Sym) *)(*load + dyn->d_un.d_ptr);
		else if (dyn->d_tag == DT_STRTAB)
			*str = (const char *)(*load + dyn->d_un.d_ptr);
		else if (dyn->d_tag == DT_HASH)
			hash = (unsigned *)(*load + dyn->d_un.d_ptr);
	}
	if (!*sym || !*str || !hash)
		return -ENOENT;
	*nsym = hash[1];
	return 0;
}

/* The [vdso] mapping's extent, from /proc/self/maps via getauxval. */
static size_t
vdso_size(uintptr_t base)
{
	ElfW(Ehdr) *eh = (ElfW(Ehdr) *)base;
	ElfW(Phdr) *ph = (ElfW(Phdr) *)(base + eh->e_phoff);
	uintptr_t end = base;
	int i;

	for (i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD &&
		    base + ph[i].p_offset + ph[i].p_memsz > end)
			end = base + ph[i].p_offset + ph[i].p_memsz;
	return (end - base + 4095) & ~4095UL;
}

/* see sandbox.h */
int
sandbox_patch_vdso(void)
{
	uintptr_t base = getauxval(AT_SYSINFO_EHDR), load, at;
	const char *str;
	ElfW(Sym) *sym;
	unsigned nsym, i, k;
	size_t len;

	if (rt->vdso_patched || !base)
		return 0;
	if (vdso_symbols(base, &sym, &str, &nsym, &load))
		return -ENOENT;
	len = vdso_size(base);
	if (mprotect((void *)base, len, PROT_READ | PROT_WRITE) < 0)
		return -errno;
	for (i = 0; i < nsym; i++) {
		for (k = 0; k < sizeof(fakes) / sizeof(fakes[0]); k++) {
			uint8_t *p;
			uintptr_t to = (uintptr_t)fakes[k].fn;

			if (strcmp(str + sym[i].st_name, fakes[k].name) ||
			    sym[i].st_size < 12)
				continue;
			at = load + sym[i].st_value;
			p = (uint8_t *)at;
			p[0] = 0x48;		/* movabs rax, to */
			p[1] = 0xb8;
			memcpy(p + 2, &to, 8);
			p[10] = 0xff;		/* jmp rax */
			p[11] = 0xe0;
		}
	}
	if (mprotect((void *)base, len, PROT_READ | PROT_EXEC) < 0)
		return -errno;
	rt->vdso_patched = 1;
	return 0;
}
