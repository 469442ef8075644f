/* Threads of the C core (POSIX and Windows builds):
 *  1. pzf_parallel_for runs tasks on more than one thread at a time (real
 *     threads: two tasks wait for each other);
 *  2. several callers at once, each coding and decoding chunked frames on a
 *     different number of threads, all get the blob and frame of the
 *     one-thread run;
 *  3. with the argument "fork" (POSIX): a child forked after the pool has
 *     started codes on threads too.
 * Exits 0 when all hold; built with ThreadSanitizer and AddressSanitizer
 * by tests/test_native.py, and for Windows (run under wine). */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallel.h"
#include "pzf.h"

#ifdef _WIN32
#include <windows.h>
typedef CRITICAL_SECTION lock_t;
#define lock_init(l) InitializeCriticalSection(l)
#define lock(l) EnterCriticalSection(l)
#define unlock(l) LeaveCriticalSection(l)
#define sleep_ms(ms) Sleep(ms)
#else
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
typedef pthread_mutex_t lock_t;
#define lock_init(l) pthread_mutex_init((l), NULL)
#define lock(l) pthread_mutex_lock(l)
#define unlock(l) pthread_mutex_unlock(l)
static void sleep_ms(int ms)
{
    struct timespec t;
    t.tv_sec = ms / 1000;
    t.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&t, NULL);
}
#endif

/* ---- 1. real concurrency ------------------------------------------------ */
static lock_t meet_lock;
static int running, most_running;

static void meet_task(void *ctx, size_t t)
{
    int waited, now;
    (void)ctx;
    (void)t;
    lock(&meet_lock);
    if (++running > most_running)
        most_running = running;
    unlock(&meet_lock);
    for (waited = 0; waited < 5000; waited += 2) { /* until another task runs */
        lock(&meet_lock);
        now = most_running;
        unlock(&meet_lock);
        if (now >= 2)
            break;
        sleep_ms(2);
    }
    lock(&meet_lock);
    running--;
    unlock(&meet_lock);
}

/* ---- 2. concurrent callers ------------------------------------------------ */
#define W 256
#define H 192
#define NCALLERS 4
#define ROUNDS 6
static uint16_t frame[W * H];
static uint8_t *ref_blob;
static int64_t ref_size;

static void params(pzf_params *p, int threads)
{
    pzf_params_init(p);
    p->shape[0] = W;
    p->shape[1] = H;
    p->compression = PZF_HUFFMAN_CHUNKED;
    p->quantization = PZF_QUANT_SQRT;
    p->quant_offset = 100.0f;
    p->quant_scale = 0.7071f;
    p->chunk_size = 4096;
    p->nthreads = threads;
}

/* Codes and decodes on 2..9 threads; returns the number of mismatches. */
static int caller_rounds(int id)
{
    pzf_params p;
    size_t cap;
    uint8_t *blob;
    uint16_t *out = (uint16_t *)malloc(sizeof frame), *ref = (uint16_t *)malloc(sizeof frame);
    int r, bad = 0;
    params(&p, 1);
    cap = pzf_compress_bound(&p);
    blob = (uint8_t *)malloc(cap);
    if (!blob || !out || !ref ||
        pzf_decompress(ref_blob, (size_t)ref_size, ref, sizeof frame, UINT64_MAX, 1) < 0)
        bad = 1;
    for (r = 0; r < ROUNDS && !bad; r++) {
        int64_t n;
        params(&p, 2 + (id + r) % 8);
        n = pzf_compress(frame, &p, blob, cap);
        if (n != ref_size || memcmp(blob, ref_blob, (size_t)n) != 0)
            bad++;
        if (pzf_decompress(blob, (size_t)(n > 0 ? n : 0), out, sizeof frame, UINT64_MAX,
                           p.nthreads) != (int64_t)sizeof frame ||
            memcmp(out, ref, sizeof frame) != 0)
            bad++;
    }
    free(blob);
    free(out);
    free(ref);
    return bad;
}

static int caller_bad[NCALLERS];

#ifdef _WIN32
static DWORD WINAPI caller_main(LPVOID arg)
{
    int id = (int)(intptr_t)arg;
    caller_bad[id] = caller_rounds(id);
    return 0;
}
#else
static void *caller_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    caller_bad[id] = caller_rounds(id);
    return NULL;
}
#endif

static int concurrent_callers(void)
{
    int i, bad = 0;
#ifdef _WIN32
    HANDLE th[NCALLERS];
    for (i = 0; i < NCALLERS; i++)
        th[i] = CreateThread(NULL, 0, caller_main, (LPVOID)(intptr_t)i, 0, NULL);
    WaitForMultipleObjects(NCALLERS, th, TRUE, INFINITE);
    for (i = 0; i < NCALLERS; i++)
        CloseHandle(th[i]);
#else
    pthread_t th[NCALLERS];
    for (i = 0; i < NCALLERS; i++)
        pthread_create(&th[i], NULL, caller_main, (void *)(intptr_t)i);
    for (i = 0; i < NCALLERS; i++)
        pthread_join(th[i], NULL);
#endif
    for (i = 0; i < NCALLERS; i++)
        bad += caller_bad[i];
    return bad;
}

int main(int argc, char **argv)
{
    pzf_params p;
    size_t i, cap;
    uint32_t s = 12345;
    int bad;

    lock_init(&meet_lock);
    pzf_parallel_for(4, 4, meet_task, NULL);
    printf("most tasks running at once: %d\n", most_running);
    if (most_running < 2)
        return 1;

    for (i = 0; i < W * H; i++) {
        s = s * 1103515245u + 12345u;
        frame[i] = (uint16_t)(100 + (s >> 16) % 50 + ((s >> 8) % 101 == 0 ? 3000 : 0));
    }
    params(&p, 1);
    cap = pzf_compress_bound(&p);
    ref_blob = (uint8_t *)malloc(cap);
    ref_size = pzf_compress(frame, &p, ref_blob, cap);
    if (ref_size <= 0)
        return 1;
    bad = concurrent_callers();
    printf("concurrent callers: %d mismatches\n", bad);

#ifndef _WIN32
    if (argc > 1 && strcmp(argv[1], "fork") == 0 && !bad) {
        int status = -1;
        pid_t pid = fork();
        if (pid == 0)
            _exit(caller_rounds(1) ? 3 : 0);
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            bad++;
        printf("forked child: %s\n", bad ? "failed" : "ok");
    }
#else
    (void)argc;
    (void)argv;
#endif
    free(ref_blob);
    return bad ? 1 : 0;
}
