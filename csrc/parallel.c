/*
 * parallel.c - fork-join of independent tasks on a persistent pool of
 * worker threads: POSIX threads, or Win32 threads on Windows.
 *
 * The pool starts empty and grows to the largest number of helpers a call
 * has asked for (at most PZF_MAX_THREADS - 1); its threads then wait for
 * work, so a call costs a few wake-ups instead of creating and joining
 * threads.  A call queues one job and works on it itself; idle workers join
 * it, up to the call's thread count, and every participant claims the next
 * unclaimed task under the pool's lock until none is left.  The caller
 * returns once every task has finished and no worker still holds the job.
 * Several callers may run jobs at once; a worker that cannot be started
 * only means fewer helpers, since the caller alone can finish any job.
 *
 * Which thread runs which task varies from call to call, so tasks must
 * write only their own outputs (the callers in frame.c do): results never
 * depend on the thread count.
 */
#if !defined(_WIN32) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* dladdr */
#endif
#include "parallel.h"

#include <stdlib.h>

#define PZF_MAX_THREADS 256

/* ---- locks, condition variables and threads of the platform ----------- */
#if defined(_WIN32)
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0600
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0600 /* condition variables: Windows Vista and later */
#endif
#include <windows.h>

typedef SRWLOCK pzf_mutex;
typedef CONDITION_VARIABLE pzf_cond;
#define PZF_MUTEX_INIT SRWLOCK_INIT
#define PZF_COND_INIT CONDITION_VARIABLE_INIT
#define mutex_lock(m) AcquireSRWLockExclusive(m)
#define mutex_unlock(m) ReleaseSRWLockExclusive(m)
#define cond_wait(c, m) ((void)SleepConditionVariableSRW((c), (m), INFINITE, 0))
#define cond_signal(c) WakeConditionVariable(c)
#define cond_broadcast(c) WakeAllConditionVariable(c)

#else
#include <dlfcn.h>
#include <pthread.h>

typedef pthread_mutex_t pzf_mutex;
typedef pthread_cond_t pzf_cond;
#define PZF_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
#define PZF_COND_INIT PTHREAD_COND_INITIALIZER
#define mutex_lock(m) ((void)pthread_mutex_lock(m))
#define mutex_unlock(m) ((void)pthread_mutex_unlock(m))
#define cond_wait(c, m) ((void)pthread_cond_wait((c), (m)))
#define cond_signal(c) ((void)pthread_cond_signal(c))
#define cond_broadcast(c) ((void)pthread_cond_broadcast(c))
#endif

/* ---- the pool ---------------------------------------------------------- */
typedef struct job {
    pzf_task_fn fn;
    void *ctx;
    size_t ntasks, next, done; /* tasks, the next unclaimed one, finished ones */
    int helpers_wanted;        /* workers that may join                        */
    int helpers_in;            /* workers that joined and have not left        */
    struct job *queued;        /* next job waiting for helpers                 */
} job;

static struct {
    pzf_mutex mu;
    pzf_cond work;  /* a job was queued                                 */
    pzf_cond done;  /* a job's last task finished or its last helper left */
    job *queue;     /* jobs with unclaimed tasks, oldest first          */
    int workers;    /* threads started                                  */
    int ready;      /* one-time set-up done                             */
    void *kept;     /* pzf_keep_give's block (under the same lock)      */
    size_t kept_cap;
} pool = {PZF_MUTEX_INIT, PZF_COND_INIT, PZF_COND_INIT, NULL, 0, 0, NULL, 0};

static void unqueue(job *j)
{
    job **p = &pool.queue;
    while (*p && *p != j)
        p = &(*p)->queued;
    if (*p)
        *p = j->queued;
}

/* Claim and run tasks of j until none is left.  Called and returns with
 * pool.mu held. */
static void run_tasks(job *j)
{
    while (j->next < j->ntasks) {
        size_t t = j->next++;
        if (j->next == j->ntasks)
            unqueue(j); /* nothing left to join for */
        mutex_unlock(&pool.mu);
        j->fn(j->ctx, t);
        mutex_lock(&pool.mu);
        if (++j->done == j->ntasks)
            cond_broadcast(&pool.done);
    }
}

static void worker_loop(void)
{
    mutex_lock(&pool.mu);
    for (;;) {
        job *j = pool.queue;
        while (j && j->helpers_in >= j->helpers_wanted)
            j = j->queued;
        if (!j) {
            cond_wait(&pool.work, &pool.mu);
            continue;
        }
        j->helpers_in++;
        run_tasks(j);
        if (--j->helpers_in == 0 && j->done == j->ntasks)
            cond_broadcast(&pool.done);
    }
}

#if defined(_WIN32)

static DWORD WINAPI worker_main(LPVOID arg)
{
    (void)arg;
    worker_loop();
    return 0;
}

static int start_worker(void)
{
    HANDLE h = CreateThread(NULL, 0, worker_main, NULL, 0, NULL);
    if (!h)
        return 0;
    CloseHandle(h); /* the thread runs on; it is never joined */
    return 1;
}

/* Workers run code of the module (DLL) this file is linked into: keep it
 * loaded for the rest of the process. */
static void setup_once(void)
{
    HMODULE self;
    (void)GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                                 GET_MODULE_HANDLE_EX_FLAG_PIN,
                             (LPCWSTR)(const void *)&pool, &self);
}

#else

static void *worker_main(void *arg)
{
    (void)arg;
    worker_loop();
    return NULL;
}

static int start_worker(void)
{
    pthread_t th;
    if (pthread_create(&th, NULL, worker_main, NULL) != 0)
        return 0;
    pthread_detach(th);
    return 1;
}

/* A child process of fork() has none of the workers: start from an empty
 * pool (the prepare handler held the lock, so no job was half-changed). */
static void before_fork(void)
{
    mutex_lock(&pool.mu);
}

static void after_fork_parent(void)
{
    mutex_unlock(&pool.mu);
}

static void after_fork_child(void)
{
    (void)pthread_mutex_init(&pool.mu, NULL);
    (void)pthread_cond_init(&pool.work, NULL);
    (void)pthread_cond_init(&pool.done, NULL);
    pool.queue = NULL;
    pool.workers = 0;
}

static void setup_once(void)
{
#ifdef RTLD_NODELETE
    /* Workers run code of the shared object this file is linked into (the
     * Python extension or the HDF5 plugin): keep it loaded for the rest of
     * the process.  Fails harmlessly in a static executable. */
    Dl_info info;
    if (dladdr((const void *)&pool, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
#endif
    (void)pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

#endif

void pzf_parallel_for(int nthreads, size_t ntasks, pzf_task_fn fn, void *ctx)
{
    job j;
    size_t t;
    int helpers, i;

    helpers = nthreads > PZF_MAX_THREADS ? PZF_MAX_THREADS - 1 : nthreads - 1;
    if (helpers > 0 && (size_t)helpers > ntasks - 1)
        helpers = (int)(ntasks - 1); /* ntasks >= 1 here */
    if (helpers <= 0 || ntasks <= 1) {
        for (t = 0; t < ntasks; t++)
            fn(ctx, t);
        return;
    }
    j.fn = fn;
    j.ctx = ctx;
    j.ntasks = ntasks;
    j.next = j.done = 0;
    j.helpers_wanted = helpers;
    j.helpers_in = 0;
    j.queued = NULL;

    mutex_lock(&pool.mu);
    if (!pool.ready) {
        setup_once();
        pool.ready = 1;
    }
    while (pool.workers < helpers && start_worker())
        pool.workers++;
    {
        job **tail = &pool.queue;
        while (*tail)
            tail = &(*tail)->queued;
        *tail = &j;
    }
    for (i = 0; i < helpers; i++)
        cond_signal(&pool.work);
    run_tasks(&j);
    while (j.done < j.ntasks || j.helpers_in > 0)
        cond_wait(&pool.done, &pool.mu);
    mutex_unlock(&pool.mu);
}

/* ---- memory kept between calls ----------------------------------------- */
void *pzf_keep_take(size_t n, size_t *cap)
{
    void *p;
    mutex_lock(&pool.mu);
    p = pool.kept;
    *cap = pool.kept_cap;
    if (p && *cap >= n) {
        pool.kept = NULL;
        pool.kept_cap = 0;
    } else {
        p = NULL;
    }
    mutex_unlock(&pool.mu);
    if (!p) {
        p = malloc(n ? n : 1);
        *cap = p ? n : 0;
    }
    return p;
}

void pzf_keep_give(void *p, size_t cap)
{
    if (p && cap <= PZF_KEEP_MAX) {
        mutex_lock(&pool.mu);
        if (!pool.kept || pool.kept_cap < cap) {
            void *t = pool.kept;
            pool.kept = p;
            pool.kept_cap = cap;
            p = t;
        }
        mutex_unlock(&pool.mu);
    }
    free(p);
}
