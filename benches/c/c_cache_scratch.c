/* Passive false sharing (after Hoard's cache-scratch): the main thread allocates one
 * small object per thread and hands it over; each thread frees it, then repeatedly
 * allocates a small object, writes it many times and frees it. An allocator that gives
 * threads objects on one cache line makes the writes slow.
 * usage: c_cache_scratch THREADS ITERATIONS */
#include "common.h"

static int iters;
static unsigned char *given[64];
static uint64_t sums[64];

static void *run(void *arg) {
    long t = (long)arg;
    free(given[t]);
    uint64_t sum = 0;
    for (int i = 0; i < iters; i++) {
        volatile unsigned char *p = malloc(8);
        if (!p) DIE("malloc failed");
        for (int k = 0; k < 8; k++) p[k] = 0;
        for (int k = 0; k < 500; k++) p[k & 7] += (unsigned char)k;
        sum += p[3];
        free((void *)p);
    }
    sums[t] = sum;
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    iters = argc > 2 ? atoi(argv[2]) : 20000;
    if (threads < 1 || threads > 64) DIE("threads out of range");
    for (int t = 0; t < threads; t++) given[t] = malloc(8);
    pthread_t th[64];
    double t0 = now_s();
    for (long t = 0; t < threads; t++) pthread_create(&th[t], NULL, run, (void *)t);
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    uint64_t sum = 0;
    for (int t = 0; t < threads; t++) sum += sums[t];
    report(now_s() - t0, sum);
    return 0;
}
