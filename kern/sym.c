/* sym.c -- name the variable or code at an address, for reports.
 *
 * libdwfl does the hard parts: the module list of this process (from
 * /proc/PID/maps), load biases, .symtab/.dynsym/.gnu_debugdata lookup
 * and finding separate debug info.  On top of it this file adds:
 *   - the coverage rule: a sized symbol covers [value, value+size), a
 *     sizeless one only its own address;
 *   - TLS variables of the calling thread (dl_iterate_phdr gives each
 *     module's TLS block in this thread, the symbol table the offset);
 *   - per module, a sorted table of the DWARF variables that have a
 *     static address (or TLS offset), naming the compilation unit that
 *     defines each one, to say which source file a symbol comes from;
 *   - for code addresses (return addresses), file:line from the line
 *     table and the enclosing function symbol, looked up at pc - 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* dl_iterate_phdr */
#endif
#define KERN_INTERNAL
#include "kern.h"
#include "rt.h"
#include "sym.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

/* One DWARF variable with a static location. */
struct sym_var {
	Dwarf_Addr addr;	/* DWARF address, or offset in TLS block */
	int tls;		/* addr is a TLS offset */
	const char *file;	/* basename of the CU name; owned by libdw */
};

/* What we cached about one module; hangs on its dwfl userdata slot. */
struct sym_mod {
	struct sym_var *v;	/* sorted by (tls, addr) */
	size_t n;
	size_t cap;
	Dwarf_Addr dwbias;	/* runtime address - DWARF address */
	int nomem;		/* an allocation failed while loading */
};

/* Bounded writer into the caller's buffer; always NUL-terminated. */
struct sym_out {
	char *buf;
	size_t len;
	size_t pos;
};

/*
 * The libdwfl session describing this process, created on first use
 * and released by sym_fini().  One static pointer is acceptable here:
 * sym_describe only runs in the parent, from one thread, when a conflict
 * is reported, so neither threads nor forks share it in practice.
 */
static Dwfl *sym_dwfl DET_PRIVATE;
static char *sym_debuginfo_path DET_PRIVATE;	/* NULL: default path */

/* Tags whose children may hold variables with a static location. */
static int
sym_is_scope(int tag)
{
	switch (tag) {
	case DW_TAG_subprogram:
	case DW_TAG_lexical_block:
	case DW_TAG_inlined_subroutine:
	case DW_TAG_namespace:
	case DW_TAG_module:
	case DW_TAG_common_block:
	case DW_TAG_try_block:
	case DW_TAG_catch_block:
		return 1;
	default:
		return 0;
	}
}

/* Append at most n bytes of string s. */
static void
sym_putn(struct sym_out *o, const char *s, size_t n)
{
	while (n-- > 0 && *s != '\0' && o->pos + 1 < o->len)
		o->buf[o->pos++] = *s++;
	if (o->len > 0)
		o->buf[o->pos] = '\0';
}

/* Append string s. */
static void
sym_put(struct sym_out *o, const char *s)
{
	sym_putn(o, s, (size_t)-1);
}

/* Append v in base 10 or 16 (the latter with "0x"). */
static void
sym_put_num(struct sym_out *o, uint64_t v, unsigned base)
{
	char tmp[24];
	size_t i = sizeof(tmp) - 1;

	tmp[i] = '\0';
	do {
		tmp[--i] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v != 0);
	if (base == 16)
		sym_put(o, "0x");
	sym_put(o, tmp + i);
}

/* Append the last component of path (all of it if it ends in '/'). */
static void
sym_put_base(struct sym_out *o, const char *path)
{
	const char *slash = strrchr(path, '/');

	sym_put(o, slash != NULL && slash[1] != '\0' ? slash + 1 : path);
}

/* Find separate debug info, locally only: by build ID under
 * /usr/lib/debug/.build-id (where Debian's -dbgsym packages put it), else
 * by .gnu_debuglink next to the file, in its .debug/ directory or under
 * /usr/lib/debug.  Unlike dwfl_standard_find_debuginfo this never asks a
 * debuginfod server, nor loads its client (libcurl, gnutls): a conflict
 * report must not hang on a download.  The debuglink CRC is not checked;
 * libdwfl checks the build ID of what we return. */
static int
sym_find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
		   Dwarf_Addr base, const char *file, const char *debuglink,
		   GElf_Word crc, char **debuginfo_file_name)
{
	static const char *const pre[] = { "", "", "/usr/lib/debug" };
	static const char *const mid[] = { "/", "/.debug/", "/" };
	char path[4096];
	struct sym_out o;
	const char *slash;
	size_t dirlen;
	size_t i;
	int fd;

	fd = dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file,
					  debuglink, crc,
					  debuginfo_file_name);
	if (fd >= 0 || file == NULL || debuglink == NULL ||
	    debuglink[0] == '\0' || strchr(debuglink, '/') != NULL)
		return fd;
	slash = strrchr(file, '/');
	if (slash == NULL || file[0] != '/')
		return -1;
	dirlen = (size_t)(slash - file);
	for (i = 0; i < sizeof(pre) / sizeof(pre[0]); i++) {
		o.buf = path;
		o.len = sizeof(path);
		o.pos = 0;
		sym_put(&o, pre[i]);
		sym_putn(&o, file, dirlen);
		sym_put(&o, mid[i]);
		sym_put(&o, debuglink);
		if (o.pos + 1 >= o.len || strcmp(path, file) == 0)
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			*debuginfo_file_name = strdup(path);
			return fd;
		}
	}
	return -1;
}

static const Dwfl_Callbacks sym_callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = sym_find_debuginfo,
	.debuginfo_path = &sym_debuginfo_path,
};

/* Free a module cache (NULL is fine). */
static void
sym_mod_free(struct sym_mod *m)
{
	if (m != NULL) {
		free(m->v);
		free(m);
	}
}

/* dwfl_report_end callback: a module went away; drop our cache.
 * Despite the prototype, libdwfl passes the address of the module's
 * userdata slot (void **), as dwfl_getmodules does. */
static int
sym_removed(Dwfl_Module *mod, void *userdata, const char *name,
	    Dwarf_Addr base, void *arg)
{
	void **slot = userdata;

	(void)mod;
	(void)name;
	(void)base;
	(void)arg;
	sym_mod_free(*slot);
	*slot = NULL;
	return DWARF_CB_OK;
}

/* dwfl_getmodules callback for sym_fini: drop one module's cache. */
static int
sym_free_cb(Dwfl_Module *mod, void **userdata, const char *name,
	    Dwarf_Addr start, void *arg)
{
	(void)mod;
	(void)name;
	(void)start;
	(void)arg;
	sym_mod_free(*userdata);
	*userdata = NULL;
	return DWARF_CB_OK;
}

/* Free the module caches, then the libdwfl session. */
void
sym_fini(void)
{
	if (sym_dwfl == NULL)
		return;
	dwfl_getmodules(sym_dwfl, sym_free_cb, NULL, 0);
	dwfl_end(sym_dwfl);
	sym_dwfl = NULL;
}

/* (Re)read the module list of this process into sym_dwfl, creating the
 * session when needed.  Modules still mapped keep their loaded ELF and
 * caches.  Returns 0 on success; on failure everything is released. */
static int
sym_report(void)
{
	int rc;
	int end;

	if (sym_dwfl == NULL) {
		sym_dwfl = dwfl_begin(&sym_callbacks);
		if (sym_dwfl == NULL)
			return -1;
	}
	dwfl_report_begin(sym_dwfl);
	rc = dwfl_linux_proc_report(sym_dwfl, rt_getpid());
	end = dwfl_report_end(sym_dwfl, sym_removed, NULL);
	if (rc != 0 || end != 0) {
		sym_fini();
		return -1;
	}
	return 0;
}

/* Append variable (tls, addr) defined in `file` to m's table. */
static void
sym_mod_add(struct sym_mod *m, Dwarf_Addr addr, int tls, const char *file)
{
	struct sym_var *v;
	size_t cap;

	if (m->n == m->cap) {
		cap = m->cap ? 2 * m->cap : 64;
		v = realloc(m->v, cap * sizeof(*v));
		if (v == NULL) {
			m->nomem = 1;
			return;
		}
		m->v = v;
		m->cap = cap;
	}
	m->v[m->n].addr = addr;
	m->v[m->n].tls = tls;
	m->v[m->n].file = file;
	m->n++;
}

/* Value pushed by operation `op` of attribute `at`: an address
 * (DW_OP_addr, or an index into .debug_addr), or with `constant` also
 * an unsigned constant.  Returns 0 and sets *out on success. */
static int
sym_op_value(Dwarf_Attribute *at, Dwarf_Op *op, int constant,
	     Dwarf_Addr *out)
{
	Dwarf_Attribute res;
	Dwarf_Word w;

	switch (op->atom) {
	case DW_OP_const1u:
	case DW_OP_const2u:
	case DW_OP_const4u:
	case DW_OP_const8u:
	case DW_OP_constu:
		if (!constant)
			return -1;
		/* fall through */
	case DW_OP_addr:
		*out = op->number;
		return 0;
	case DW_OP_constx:
	case DW_OP_GNU_const_index:
		if (!constant)
			return -1;
		/* fall through */
	case DW_OP_addrx:
	case DW_OP_GNU_addr_index:
		if (dwarf_getlocation_attr(at, op, &res) != 0)
			return -1;
		if (dwarf_formaddr(&res, out) == 0)
			return 0;
		if (dwarf_formudata(&res, &w) == 0) {
			*out = w;
			return 0;
		}
		return -1;
	default:
		return -1;
	}
}

/* Basename of the source file of the unit whose DIE is `cudie`, or
 * NULL.  A split-DWARF skeleton has its name in the split unit (reached
 * through the public `cu` field of Dwarf_Die); LTO's "<artificial>"
 * units name no file. */
static const char *
sym_unit_file(Dwarf_Die *cudie)
{
	Dwarf_Die sub;
	uint8_t type;
	const char *name;
	const char *slash;

	name = dwarf_diename(cudie);
	if (name == NULL && cudie->cu != NULL &&
	    dwarf_cu_info(cudie->cu, NULL, &type, NULL, &sub, NULL, NULL,
			  NULL) == 0 && type == DW_UT_skeleton &&
	    sub.addr != NULL)
		name = dwarf_diename(&sub);
	if (name == NULL || name[0] == '\0' || name[0] == '<')
		return NULL;
	slash = strrchr(name, '/');
	if (slash != NULL && slash[1] != '\0')
		name = slash + 1;
	return name;
}

/* The file to name DIE `die` of a unit named `file` after: the unit of
 * its abstract origin when that lies in another unit (LTO's concrete
 * DIEs live in "<artificial>" units), else `file` (may be NULL). */
static const char *
sym_die_file(Dwarf_Die *die, const char *file)
{
	Dwarf_Attribute at;
	Dwarf_Die orig;
	Dwarf_Die ocu;
	const char *ofile;

	if (dwarf_attr(die, DW_AT_abstract_origin, &at) != NULL &&
	    dwarf_formref_die(&at, &orig) != NULL &&
	    dwarf_diecu(&orig, &ocu, NULL, NULL) != NULL) {
		ofile = sym_unit_file(&ocu);
		if (ofile != NULL)
			return ofile;
	}
	return file;
}

/* If variable DIE `die` of a unit named `file` has a static location --
 * one address operation, or a TLS offset followed by
 * DW_OP_form_tls_address -- record it. */
static void
sym_add_var(struct sym_mod *m, Dwarf_Die *die, const char *file)
{
	Dwarf_Attribute at;
	Dwarf_Op *ops;
	size_t nops;
	Dwarf_Addr addr;

	file = sym_die_file(die, file);
	if (file == NULL || dwarf_attr(die, DW_AT_location, &at) == NULL)
		return;
	if (dwarf_getlocation(&at, &ops, &nops) != 0)
		return;
	if (nops == 1 && sym_op_value(&at, &ops[0], 0, &addr) == 0)
		sym_mod_add(m, addr, 0, file);
	else if (nops == 2 && (ops[1].atom == DW_OP_form_tls_address ||
			       ops[1].atom == DW_OP_GNU_push_tls_address) &&
		 sym_op_value(&at, &ops[0], 1, &addr) == 0)
		sym_mod_add(m, addr, 1, file);
}

/* Record the entry address of function DIE `die`, if it has one: its
 * symbol has that address (no need for .debug_aranges, which clang does
 * not emit). */
static void
sym_add_func(struct sym_mod *m, Dwarf_Die *die, const char *file)
{
	Dwarf_Addr pc;

	file = sym_die_file(die, file);
	if (file != NULL && dwarf_lowpc(die, &pc) == 0)
		sym_mod_add(m, pc, 0, file);
}

/* Record the static variables and the functions among the descendants
 * of `parent`, entering only scopes that can hold them. */
static void
sym_walk(struct sym_mod *m, Dwarf_Die *parent, const char *file, int depth)
{
	Dwarf_Die die;
	int tag;

	if (depth > 64 || dwarf_child(parent, &die) != 0)
		return;
	do {
		tag = dwarf_tag(&die);
		if (tag == DW_TAG_variable)
			sym_add_var(m, &die, file);
		else if (tag == DW_TAG_subprogram)
			sym_add_func(m, &die, file);
		if (sym_is_scope(tag) && dwarf_haschildren(&die) > 0)
			sym_walk(m, &die, file, depth + 1);
	} while (dwarf_siblingof(&die, &die) == 0);
}

/* Order sym_var by (tls, addr). */
static int
sym_var_cmp(const void *a, const void *b)
{
	const struct sym_var *x = a;
	const struct sym_var *y = b;

	if (x->tls != y->tls)
		return x->tls < y->tls ? -1 : 1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return 0;
}

/* Build the variable table of module `mod` from its DWARF.  Returns the
 * table (empty when there is no debug info), or NULL when out of
 * memory. */
static struct sym_mod *
sym_mod_load(Dwfl_Module *mod)
{
	struct sym_mod *m;
	Dwarf *dw;
	Dwarf_CU *cu = NULL;
	Dwarf_CU *next;
	Dwarf_Half ver;
	uint8_t type;
	Dwarf_Die cudie;
	Dwarf_Die sub;
	const char *name;

	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	dw = dwfl_module_getdwarf(mod, &m->dwbias);
	if (dw == NULL)
		return m;
	while (dwarf_get_units(dw, cu, &next, &ver, &type, &cudie,
			       NULL) == 0) {
		cu = next;
		if (type != DW_UT_compile && type != DW_UT_skeleton &&
		    type != DW_UT_partial)
			continue;
		name = sym_unit_file(&cudie);
		sym_walk(m, &cudie, name, 0);
		if (type == DW_UT_skeleton &&
		    dwarf_cu_info(cu, NULL, NULL, NULL, &sub, NULL, NULL,
				  NULL) == 0 && sub.addr != NULL)
			sym_walk(m, &sub, name, 0);
	}
	if (m->nomem) {
		sym_mod_free(m);
		return NULL;
	}
	if (m->n > 1)
		qsort(m->v, m->n, sizeof(*m->v), sym_var_cmp);
	return m;
}

/* Basename of the CU defining the variable or function at `addr` (TLS
 * offset when tls) in module `mod`, or NULL when unknown.  A non-TLS
 * `addr` is a runtime address, converted here; when no DIE starts
 * there, the CU whose ranges hold it is used. */
static const char *
sym_source_file(Dwfl_Module *mod, Dwarf_Addr addr, int tls)
{
	void **ud = NULL;
	struct sym_mod *m;
	struct sym_var key;
	Dwarf_Die *cudie;
	Dwarf_Addr bias;
	size_t lo;
	size_t hi;
	size_t mid;

	if (dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL,
			     NULL) == NULL || ud == NULL)
		return NULL;
	m = *ud;
	if (m == NULL) {
		m = sym_mod_load(mod);
		if (m == NULL)
			return NULL;
		*ud = m;
	}
	key.tls = tls;
	key.addr = tls ? addr : addr - m->dwbias;
	lo = 0;
	hi = m->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (sym_var_cmp(&m->v[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < m->n && sym_var_cmp(&m->v[lo], &key) == 0)
		return m->v[lo].file;
	if (tls)
		return NULL;
	cudie = dwfl_module_addrdie(mod, addr, &bias);
	return cudie != NULL ? sym_unit_file(cudie) : NULL;
}

/* What dl_iterate_phdr tells about an address. */
struct sym_phdr {
	uintptr_t addr;		/* in: the address */
	uintptr_t probe;	/* out: an address mapped by its module */
	uintptr_t tls_off;	/* out: offset in the module's TLS block */
	int found;		/* out: 1 in a PT_LOAD, 2 in a TLS block */
};

/* dl_iterate_phdr callback: is p->addr in a PT_LOAD segment of this
 * object (including the .bss pages beyond its file mappings, which
 * /proc/PID/maps does not attribute to it), or in its TLS block of the
 * calling thread? */
static int
sym_phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct sym_phdr *p = arg;
	const ElfW(Phdr) *ph;
	const ElfW(Phdr) *tls = NULL;
	uintptr_t probe = 0;
	uintptr_t start;
	int load = 0;
	size_t i;

	for (i = 0; i < info->dlpi_phnum; i++) {
		ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_TLS) {
			tls = ph;
		} else if (ph->p_type == PT_LOAD && ph->p_memsz != 0) {
			start = info->dlpi_addr + ph->p_vaddr;
			if (probe == 0)
				probe = start;
			if (p->addr >= start && p->addr - start < ph->p_memsz)
				load = 1;
		}
	}
	if (probe == 0)
		return 0;
	if (load) {
		p->probe = probe;
		p->found = 1;
		return 1;
	}
	if (tls == NULL || size < offsetof(struct dl_phdr_info,
					   dlpi_tls_data) +
	    sizeof(info->dlpi_tls_data) || info->dlpi_tls_data == NULL)
		return 0;
	start = (uintptr_t)info->dlpi_tls_data;
	if (p->addr < start || p->addr - start >= tls->p_memsz)
		return 0;
	p->probe = probe;
	p->tls_off = p->addr - start;
	p->found = 2;
	return 1;
}

/* The STT_TLS symbol of `mod` covering offset `off` of its TLS block;
 * fills *best.  Prefers sized symbols, then the closest, then global
 * ones.  Returns its name or NULL. */
static const char *
sym_tls_symbol(Dwfl_Module *mod, GElf_Addr off, GElf_Sym *best)
{
	const char *bname = NULL;
	const char *name;
	GElf_Sym s;
	GElf_Addr a;
	GElf_Word shndx;
	int n;
	int i;

	n = dwfl_module_getsymtab(mod);
	for (i = 1; i < n; i++) {
		name = dwfl_module_getsym_info(mod, i, &s, &a, &shndx, NULL,
					       NULL);
		if (name == NULL || name[0] == '\0' || name[0] == '@' ||
		    GELF_ST_TYPE(s.st_info) != STT_TLS ||
		    shndx == SHN_UNDEF || s.st_value > off)
			continue;
		if (s.st_size != 0 ? off - s.st_value >= s.st_size
				   : s.st_value != off)
			continue;
		if (bname != NULL) {
			if ((best->st_size != 0) != (s.st_size != 0)) {
				if (best->st_size != 0)
					continue;
			} else if (s.st_value != best->st_value) {
				if (s.st_value < best->st_value)
					continue;
			} else if (GELF_ST_BIND(s.st_info) <=
				   GELF_ST_BIND(best->st_info)) {
				continue;
			}
		}
		*best = s;
		bname = name;
	}
	return bname;
}

/* Write "name+off[ in file]" for a symbol of `mod`: the source file when
 * DWARF names one, else the module's basename unless it is the main
 * program.  `key` is the symbol's runtime address, or its TLS offset.
 * A symbol version ("stdout@GLIBC_2.2.5", as .symtab names copy
 * relocated data) is dropped. */
static void
sym_format(struct sym_out *o, Dwfl_Module *mod, const char *name,
	   uint64_t off, Dwarf_Addr key, int tls)
{
	const char *file;
	const char *slash;
	unsigned long phdr;

	sym_putn(o, name, strcspn(name, "@"));
	sym_put(o, "+");
	sym_put_num(o, off, 10);
	file = sym_source_file(mod, key, tls);
	if (file == NULL) {
		phdr = getauxval(AT_PHDR);
		if (phdr != 0 && dwfl_addrmodule(sym_dwfl, phdr) == mod)
			return;
		file = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL,
					NULL, NULL);
		if (file == NULL || file[0] == '\0')
			return;
		slash = strrchr(file, '/');
		if (slash != NULL && slash[1] != '\0')
			file = slash + 1;
	}
	sym_put(o, " in ");
	sym_put(o, file);
}

/* Describe addr into o.  Returns 0 when a symbol covers it, -1 when a
 * module maps it but no symbol covers it, -2 when no module maps it. */
static int
sym_lookup(uintptr_t addr, struct sym_out *o)
{
	Dwfl_Module *mod;
	const char *name;
	GElf_Off off;
	GElf_Sym sym;
	struct sym_phdr p;

	/* ld.so's view first: libdwfl may attribute a TLS block or .bss
	 * pages to the wrong module, or to none, from /proc/PID/maps. */
	memset(&p, 0, sizeof(p));
	p.addr = addr;
	dl_iterate_phdr(sym_phdr_cb, &p);
	mod = dwfl_addrmodule(sym_dwfl, p.found != 0 ? p.probe : addr);
	if (mod == NULL)
		return -2;
	if (p.found != 2) {
		name = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL,
					    NULL);
		if (name == NULL || name[0] == '\0' || name[0] == '@')
			return -1;
		if (sym.st_size != 0 ? off >= sym.st_size : off != 0)
			return -1;
		sym_format(o, mod, name, off, addr - off, 0);
		return 0;
	}
	name = sym_tls_symbol(mod, p.tls_off, &sym);
	if (name == NULL)
		return -1;
	sym_format(o, mod, name, p.tls_off - sym.st_value, sym.st_value, 1);
	return 0;
}

/* The function symbol of `mod` containing code address `addr`, or NULL;
 * sets *off to addr minus its start.  A sized symbol must cover addr;
 * libdwfl offers a sizeless one (hand-written assembly) only when no
 * sized symbol ends between it and addr. */
static const char *
sym_code_symbol(Dwfl_Module *mod, Dwarf_Addr addr, GElf_Off *off)
{
	const char *name;
	GElf_Sym sym;

	name = dwfl_module_addrinfo(mod, addr, off, &sym, NULL, NULL, NULL);
	if (name == NULL || name[0] == '\0' || name[0] == '@')
		return NULL;
	if (sym.st_size != 0 && *off >= sym.st_size)
		return NULL;
	return name;
}

/* Describe return address pc into o (see sym_describe_code).  Returns 0,
 * or -2 when no module maps pc - 1. */
static int
sym_lookup_code(uintptr_t pc, struct sym_out *o)
{
	Dwfl_Module *mod;
	Dwfl_Line *line;
	const char *file = NULL;
	const char *name;
	GElf_Off off = 0;
	Dwarf_Addr start = 0;
	Dwarf_Addr end = 0;
	Dwarf_Addr bias;
	int lineno = 0;

	/* dwfl_addrmodule gives the last module for any address above it:
	 * check the module's bounds. */
	if (pc == 0)
		return -2;
	mod = dwfl_addrmodule(sym_dwfl, pc - 1);
	if (mod == NULL)
		return -2;
	name = dwfl_module_info(mod, NULL, &start, &end, NULL, NULL, NULL,
				NULL);
	if (pc - 1 < start || pc - 1 >= end)
		return -2;
	line = dwfl_module_getsrc(mod, pc - 1);
	if (line != NULL)
		file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
	name = sym_code_symbol(mod, pc - 1, &off);
	if (file != NULL && file[0] != '\0' && lineno > 0) {
		sym_put_base(o, file);
		sym_put(o, ":");
		sym_put_num(o, (uint64_t)lineno, 10);
		if (name != NULL) {
			sym_put(o, " (");
			sym_putn(o, name, strcspn(name, "@"));
			sym_put(o, ")");
		}
		return 0;
	}
	if (name != NULL) {
		sym_putn(o, name, strcspn(name, "@"));
		sym_put(o, "+");
		sym_put_num(o, off + 1, 16);
		return 0;
	}
	name = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL,
				NULL);
	if (dwfl_module_getelf(mod, &bias) == NULL)
		bias = start;
	sym_put_base(o, name != NULL ? name : "");
	sym_put(o, "+");
	sym_put_num(o, pc - bias, 16);
	return 0;
}

/* Run `lookup` for addr into buf (len bytes).  Reads the module list on
 * first use, and again when no module maps addr (it may have been
 * dlopen'ed since).  Returns 0, or -1 with buf "". */
static int
sym_run(int (*lookup)(uintptr_t, struct sym_out *), uintptr_t addr,
	char *buf, size_t len)
{
	struct sym_out o = { buf, buf != NULL ? len : 0, 0 };
	int fresh = 0;
	int rc;

	if (o.len > 0)
		buf[0] = '\0';
	if (sym_dwfl == NULL) {
		if (sym_report() != 0)
			return -1;
		fresh = 1;
	}
	rc = lookup(addr, &o);
	if (rc == -2 && !fresh && sym_report() == 0) {
		o.pos = 0;
		rc = lookup(addr, &o);
	}
	if (rc != 0) {
		if (o.len > 0)
			buf[0] = '\0';
		return -1;
	}
	return 0;
}

/* See sym.h. */
int
sym_describe(uintptr_t addr, char *buf, size_t len)
{
	return sym_run(sym_lookup, addr, buf, len);
}

/* See sym.h. */
int
sym_describe_code(uintptr_t pc, char *buf, size_t len)
{
	return sym_run(sym_lookup_code, pc, buf, len);
}
