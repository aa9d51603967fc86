/* sym.h -- name the variable or code at an address, for reports.
 *
 * Used by the parent when it reports a write/write conflict:
 *   conflict: 8 bytes at 0x55d0c0a01010 (counter+0 in prog.c) ...
 * sym_describe() produces the part in parentheses; sym_describe_code()
 * names a call site (the allocator's recorded return addresses).  Both
 * work on the address space of the calling process, through libdwfl,
 * and cache what they load in process-global state shared with each
 * other: they are not thread-safe.
 */
#ifndef DET_SYM_H
#define DET_SYM_H

#include <stddef.h>
#include <stdint.h>

/* Describe address `addr` of the CALLING process into buf (always
 * NUL-terminated, truncated to len bytes):
 *   "counter+0 in prog.c"     the data symbol (STT_OBJECT, STT_TLS or any
 *                             sized symbol) covering addr, with the
 *                             basename of the source file of its
 *                             definition when DWARF debug info has it;
 *   "counter+8"               a symbol of the main program and no debug
 *                             info names the file;
 *   "stdout+0 in libc.so.6"   a symbol of a shared library and no debug
 *                             info names the file.
 * Offsets are decimal.  A symbol of size 0 only matches its own address.
 * Returns 0 when a symbol covered addr, -1 otherwise (buf then holds "").
 * Never aborts; any libdw/libelf failure just gives -1. */
int sym_describe(uintptr_t addr, char *buf, size_t len);

/* Describe the code address `pc` of the CALLING process into buf (always
 * NUL-terminated, truncated to len bytes).  pc is a RETURN address: the
 * call site is the instruction before it, so file, line and function
 * are those of pc - 1:
 *   "matmult.c:42 (mult_rows)"  line info (basename of the source file)
 *                               and the symbol containing the call;
 *   "matmult.c:42"              line info, no symbol;
 *   "mult_rows+0x1c"            a symbol, no line info;
 *   "libfoo.so+0x1234"          neither: the basename of the module.
 * Offsets are hexadecimal and of pc itself (not pc - 1): from the
 * symbol's start, or the module's ELF address (what addr2line -e takes,
 * after subtracting 1).  Returns 0 on success, -1 when no module maps
 * pc - 1 (buf then holds "").  Never aborts. */
int sym_describe_code(uintptr_t pc, char *buf, size_t len);

/* Release everything sym_describe and sym_describe_code cached (optional
 * to call).  A later call of either starts over. */
void sym_fini(void);

#endif /* DET_SYM_H */
