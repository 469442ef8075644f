/*
 * parallel.h - run independent tasks on a few threads (internal).
 */
#ifndef PZF_PARALLEL_H
#define PZF_PARALLEL_H

#include <stddef.h>

typedef void (*pzf_task_fn)(void *ctx, size_t task);

/* Run fn(ctx, 0..ntasks-1) on up to nthreads threads, the calling thread
 * included; thread t takes tasks t, t + nthreads, ...  If a thread cannot
 * be started its tasks run on the calling thread, so every task always
 * runs exactly once.  Without POSIX threads everything runs serially. */
void pzf_parallel_for(int nthreads, size_t ntasks, pzf_task_fn fn, void *ctx);

#endif
