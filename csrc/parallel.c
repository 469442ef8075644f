/*
 * parallel.c - a minimal fork-join over POSIX threads.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "parallel.h"

#define PZF_MAX_THREADS 256

typedef struct {
    pzf_task_fn fn;
    void *ctx;
    size_t first, step, ntasks;
} worker;

static void run_worker(const worker *w)
{
    size_t t;
    for (t = w->first; t < w->ntasks; t += w->step)
        w->fn(w->ctx, t);
}

#if defined(_WIN32)

void pzf_parallel_for(int nthreads, size_t ntasks, pzf_task_fn fn, void *ctx)
{
    worker w;
    (void)nthreads;
    w.fn = fn; w.ctx = ctx; w.first = 0; w.step = 1; w.ntasks = ntasks;
    run_worker(&w);
}

#else
#include <pthread.h>

static void *thread_main(void *arg)
{
    run_worker((const worker *)arg);
    return NULL;
}

void pzf_parallel_for(int nthreads, size_t ntasks, pzf_task_fn fn, void *ctx)
{
    worker w[PZF_MAX_THREADS];
    pthread_t th[PZF_MAX_THREADS];
    int started[PZF_MAX_THREADS];
    size_t nt, i;

    nt = nthreads < 1 ? 1 : (size_t)nthreads;
    if (nt > PZF_MAX_THREADS)
        nt = PZF_MAX_THREADS;
    if (nt > ntasks)
        nt = ntasks;
    for (i = 0; i < nt; i++) {
        w[i].fn = fn;
        w[i].ctx = ctx;
        w[i].first = i;
        w[i].step = nt;
        w[i].ntasks = ntasks;
        started[i] = 0;
    }
    for (i = 1; i < nt; i++)
        started[i] = pthread_create(&th[i], NULL, thread_main, &w[i]) == 0;
    if (nt > 0)
        run_worker(&w[0]);
    for (i = 1; i < nt; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            run_worker(&w[i]);
    }
}
#endif
