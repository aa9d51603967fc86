/* sym.h -- name the variable at an address, for conflict reports.
 *
 * Used by the parent when it reports a write/write conflict:
 *   conflict: 8 bytes at 0x55d0c0a01010 (counter+0 in prog.c) ...
 * sym_describe() produces the part in parentheses.  It works on the
 * address space of the calling process, through libdwfl, and caches
 * what it loads in process-global state: it is not thread-safe.
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

/* Release everything sym_describe cached (optional to call).  A later
 * sym_describe starts over. */
void sym_fini(void);

#endif /* DET_SYM_H */
