/*
 * blackscholes_pthread -- the pthreads twin of blackscholes: the same
 * kernel (blackscholes_kernel.h) and output, with N threads instead of
 * det children (app_pthread_run, app_common.h).
 *
 *   blackscholes_pthread [-t N] [--seq] [-s SIZE] [--verify]
 *
 * SIZE is the number of options in thousands (default 1000).  --seq
 * runs the kernel in the main thread, without pthread_create.
 */
#include "blackscholes_kernel.h"

int
main(int argc, char **argv)
{
	return bs_main(argc, argv, app_pthread_run);
}
