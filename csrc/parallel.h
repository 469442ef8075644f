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

/* Memory kept between calls.  Every page of fresh memory costs a page
 * fault and the kernel's zeroing each time it is first touched, so a
 * caller that fills a big buffer on every call takes the kept block and
 * gives it back when done.  One block of at most PZF_KEEP_MAX bytes is
 * kept (for the rest of the process); safe to call from several threads.
 *
 * pzf_keep_take: the kept block if it holds at least n bytes, else a new
 * one from malloc (NULL if none can be had); *cap is its size.
 * pzf_keep_give: keep p (cap bytes, from pzf_keep_take) for the next call,
 * or free it (the larger block is kept); p may be NULL. */
#define PZF_KEEP_MAX ((size_t)64 << 20)
void *pzf_keep_take(size_t n, size_t *cap);
void pzf_keep_give(void *p, size_t cap);

#endif
