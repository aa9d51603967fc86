/*
 * md5_pthread -- the pthreads twin of md5: the same kernel
 * (md5_kernel.h) and output, with N threads instead of det children
 * (app_pthread_run, app_common.h).
 *
 *   md5_pthread [-t N] [--seq] [-s SIZE] [--verify]
 *
 * SIZE is the space in million candidates (default 16).  --seq runs the
 * kernel in the main thread, without pthread_create.
 */
#include "md5_kernel.h"

int
main(int argc, char **argv)
{
	return md5_main(argc, argv, app_pthread_run);
}
