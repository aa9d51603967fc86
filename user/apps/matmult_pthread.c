/*
 * matmult_pthread -- matmult (see matmult.c) with POSIX threads: the
 * same kernel and row-block split, N threads instead of N det children
 * (app_pthread_run, app_common.h); exit status 3 if one cannot start.
 *
 *   matmult_pthread [-t N] [--seq] [-s SIZE] [--verify]
 *
 * Prints the same line as matmult: "matmult: n=SIZE checksum HEX".
 */
#include "matmult_kernel.h"

int
main(int argc, char **argv)
{
	return mm_main(argc, argv, app_pthread_run);
}
