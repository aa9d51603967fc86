/* check_sym.c -- sym_describe names the variable at an address,
 * sym_describe_code the call site of a return address. */
#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sym.h"

long counter;
static char table[64];
int arr[16] = { 1 };
static char big[1 << 20];		/* .bss past the file-backed pages */
static __thread long tcount;
extern char **environ;

/* Address of a static variable local to a function. */
static int *
local_hits(void)
{
	static int hits[4];

	hits[0]++;
	return hits;
}

/* The return address of this call: a call site in the caller. */
__attribute__((noinline, noclone)) static uintptr_t
where_am_i(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

/* sym_describe into a fresh buffer; checks the return value. */
static const char *
describe(const void *p, int want_rc)
{
	static char buf[256];

	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(sym_describe((uintptr_t)p, buf, sizeof(buf)),
			 want_rc);
	return buf;
}

/* sym_describe_code into a fresh buffer; checks the return value. */
static const char *
describe_code(uintptr_t pc, int want_rc)
{
	static char buf[256];

	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(sym_describe_code(pc, buf, sizeof(buf)), want_rc);
	return buf;
}

/* Does s start with prefix? */
static int
has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Does s end with suffix? */
static int
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s);
	size_t m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Each test leaves nothing cached (and nothing leaked). */
static void
teardown(void)
{
	sym_fini();
}

/* Globals of this file, data and .bss, whole and inside. */
START_TEST(test_globals)
{
	ck_assert_str_eq(describe(&counter, 0), "counter+0 in check_sym.c");
	ck_assert_str_eq(describe(table + 5, 0), "table+5 in check_sym.c");
	ck_assert_str_eq(describe(&arr[3], 0), "arr+12 in check_sym.c");
	ck_assert_str_eq(describe(&arr[15], 0), "arr+60 in check_sym.c");
	ck_assert_str_eq(describe(&big[1 << 19], 0),
			 "big+524288 in check_sym.c");
	ck_assert_str_eq(describe(&big[(1 << 20) - 1], 0),
			 "big+1048575 in check_sym.c");
}
END_TEST

/* A function's static variable (gcc names it hits.N, clang
 * local_hits.hits). */
START_TEST(test_static_local)
{
	const char *s = describe(local_hits() + 1, 0);

	ck_assert_msg(strstr(s, "hits") != NULL &&
		      has_suffix(s, "+4 in check_sym.c"), "got '%s'", s);
}
END_TEST

/* A __thread variable of the calling thread. */
START_TEST(test_tls)
{
	tcount = 1;
	ck_assert_str_eq(describe(&tcount, 0), "tcount+0 in check_sym.c");
	ck_assert_str_eq(describe((char *)&tcount + 3, 0),
			 "tcount+3 in check_sym.c");
}
END_TEST

/* Any sized symbol, here a function of another unit. */
START_TEST(test_function)
{
	ck_assert_str_eq(describe((const void *)(uintptr_t)sym_describe, 0),
			 "sym_describe+0 in sym.c");
}
END_TEST

/* Addresses no symbol covers give -1 and "". */
START_TEST(test_unmapped)
{
	char *p;
	char *heap;
	const char *s;

	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_str_eq(describe(p + 16, -1), "");
	/* Twice: the second lookup rereads the module list. */
	ck_assert_str_eq(describe(p, -1), "");
	munmap(p, 4096);
	heap = malloc(64);
	ck_assert_ptr_nonnull(heap);
	ck_assert_str_eq(describe(heap, -1), "");
	free(heap);
	ck_assert_str_eq(describe(NULL, -1), "");
	s = describe((const void *)(uintptr_t)-1, -1);
	ck_assert_str_eq(s, "");
}
END_TEST

/* Output is truncated to len and always NUL-terminated. */
START_TEST(test_truncate)
{
	char buf[8];
	char one[1];

	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(sym_describe((uintptr_t)&counter, buf, 6), 0);
	ck_assert_str_eq(buf, "count");
	ck_assert_int_eq(buf[6], 'x');
	one[0] = 'x';
	ck_assert_int_eq(sym_describe((uintptr_t)&counter, one, 1), 0);
	ck_assert_int_eq(one[0], '\0');
	ck_assert_int_eq(sym_describe((uintptr_t)&counter, buf, 0), 0);
	ck_assert_int_eq(buf[0], 'c');
	ck_assert_int_eq(sym_describe((uintptr_t)&counter, NULL, 0), 0);
}
END_TEST

/* Data symbols of libc (or their copies in the program). */
START_TEST(test_libc)
{
	void *libc;
	char *p;
	const char *s;

	s = describe(&stdout, 0);
	ck_assert_msg(has_prefix(s, "stdout+0"), "got '%s'", s);
	s = describe(&environ, 0);
	ck_assert_msg(has_prefix(s, "environ+0") ||
		      has_prefix(s, "__environ+0"), "got '%s'", s);
	/* A libc object the program never references: libc's own copy. */
	libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	ck_assert_ptr_nonnull(libc);
	p = dlsym(libc, "_IO_2_1_stdout_");
	ck_assert_ptr_nonnull(p);
	s = describe(p + 8, 0);
	ck_assert_msg(has_prefix(s, "_IO_2_1_stdout_+8 in "), "got '%s'", s);
	dlclose(libc);
}
END_TEST

/* sym_fini is idempotent and a later call starts over. */
START_TEST(test_fini_restart)
{
	ck_assert_str_eq(describe(&counter, 0), "counter+0 in check_sym.c");
	sym_fini();
	sym_fini();
	ck_assert_str_eq(describe(&arr[1], 0), "arr+4 in check_sym.c");
}
END_TEST

/* A call site of this file: file:line (function).  Check's
 * START_TEST(name) defines the function name_fn. */
START_TEST(test_code_line)
{
	char want[64];
	uintptr_t pc = where_am_i(); int line = __LINE__;

	snprintf(want, sizeof(want), "check_sym.c:%d (test_code_line_fn)",
		 line);
	ck_assert_str_eq(describe_code(pc, 0), want);
	/* Again, from the cache. */
	ck_assert_str_eq(describe_code(pc, 0), want);
}
END_TEST

/* Where last_call returns to, and what it saw. */
static jmp_buf last_env;
static volatile uintptr_t last_pc;

/* Record the return address, then leave through longjmp. */
__attribute__((noinline, noclone, noreturn)) static void
last_call(void)
{
	last_pc = (uintptr_t)__builtin_return_address(0);
	longjmp(last_env, 1);
}

/* Calls last_call, noreturn: the call is the function's last
 * instruction, so the return address lies past its end (at -O2). */
__attribute__((noinline, noclone)) static void
ends_in_call(void)
{
	last_call();
}

/* A call that is the last instruction of its function: pc - 1 is still
 * the caller's. */
START_TEST(test_code_last_call)
{
	const char *s;

	last_pc = 0;
	if (setjmp(last_env) == 0)
		ends_in_call();
	ck_assert(last_pc != 0);
	s = describe_code(last_pc, 0);
	ck_assert_msg(has_prefix(s, "check_sym.c:") &&
		      has_suffix(s, " (ends_in_call)"), "got '%s'", s);
}
END_TEST

/* A call site inside libc: with its debug info (libc6-dbg) file:line
 * (qsort), else qsort+0x8. */
START_TEST(test_code_libc)
{
	void *libc;
	void *f;
	const char *s;

	libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	ck_assert_ptr_nonnull(libc);
	f = dlsym(libc, "qsort");
	ck_assert_ptr_nonnull(f);
	s = describe_code((uintptr_t)f + 8, 0);
	ck_assert_msg(strcmp(s, "qsort+0x8") == 0 ||
		      (strchr(s, ':') != NULL && has_suffix(s, " (qsort)")),
		      "got '%s'", s);
	dlclose(libc);
}
END_TEST

/* Code no symbol covers (the ELF header of the program): the module's
 * basename and the address in the ELF file. */
START_TEST(test_code_module)
{
	char want[64];
	uintptr_t phdr = getauxval(AT_PHDR);
	Dl_info info;

	ck_assert(phdr != 0);
	ck_assert(dladdr((void *)phdr, &info) != 0);
	snprintf(want, sizeof(want), "check_sym+0x%lx",
		 (unsigned long)(phdr + 1 - (uintptr_t)info.dli_fbase));
	ck_assert_str_eq(describe_code(phdr + 1, 0), want);
}
END_TEST

/* No module: -1 and "".  Truncation keeps the NUL. */
START_TEST(test_code_bad)
{
	char buf[8];
	uintptr_t pc = where_am_i();

	ck_assert_str_eq(describe_code(0x1, -1), "");
	ck_assert_str_eq(describe_code(0, -1), "");
	ck_assert_str_eq(describe_code((uintptr_t)-1, -1), "");
	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(sym_describe_code(pc, buf, 6), 0);
	ck_assert_str_eq(buf, "check");
	ck_assert_int_eq(buf[6], 'x');
	ck_assert_int_eq(sym_describe_code(pc, buf, 1), 0);
	ck_assert_int_eq(buf[0], '\0');
	ck_assert_int_eq(sym_describe_code(pc, NULL, 0), 0);
}
END_TEST

/* The suite: one case, 60 s timeout. */
static Suite *
sym_suite(void)
{
	Suite *s = suite_create("sym");
	TCase *tc = tcase_create("describe");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_globals);
	tcase_add_test(tc, test_static_local);
	tcase_add_test(tc, test_tls);
	tcase_add_test(tc, test_function);
	tcase_add_test(tc, test_unmapped);
	tcase_add_test(tc, test_truncate);
	tcase_add_test(tc, test_libc);
	tcase_add_test(tc, test_fini_restart);
	tcase_add_test(tc, test_code_line);
	tcase_add_test(tc, test_code_last_call);
	tcase_add_test(tc, test_code_libc);
	tcase_add_test(tc, test_code_module);
	tcase_add_test(tc, test_code_bad);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sym_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
