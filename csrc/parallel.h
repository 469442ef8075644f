/*
 * parallel.h - run independent tasks on a few threads (internal).
 */
#ifndef PZF_PARALLEL_H
#define PZF_PARALLEL_H

#include <stddef.h>

typedef void (*pzf_task_fn)(void *ctx, size_t task);

/* Run fn(ctx, 0..ntasks-1) on up to nthreads threads, the calling thread
 * included, and return when all have finished.  The other threads come
 * from a persistent pool (POSIX or Win32 threads, see parallel.c); tasks
 * are handed out one at a time to whichever thread is free, so which
 * thread runs a task varies and tasks must write only their own outputs.
 * Every task runs exactly once, also when no thread can be started (then
 * all on the calling thread).  Safe to call from several threads at once. */
void pzf_parallel_for(int nthreads, size_t ntasks, pzf_task_fn fn, void *ctx);

#endif
