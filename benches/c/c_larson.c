/* Server-style churn (after Larson and Krishnan): each thread owns an array of slots and
 * replaces random slots with blocks of random size; after every round the arrays rotate
 * between threads, so most frees are of blocks another thread allocated.
 * usage: c_larson THREADS ROUNDS */
#include "common.h"

#define SLOTS 4096
#define OPS 20000
static int threads, rounds;
static unsigned char **arrays[64];
static pthread_barrier_t bar;
static uint64_t sums[64];

static void *run(void *arg) {
    long t = (long)arg;
    uint64_t s = 0x9e3779b97f4a7c15ull ^ (t + 1);
    uint64_t sum = 0;
    for (int r = 0; r < rounds; r++) {
        unsigned char **a = arrays[(t + r) % threads];
        for (int i = 0; i < OPS; i++) {
            uint64_t x = xs(&s);
            int k = x % SLOTS;
            size_t n = 16 + (x >> 20) % 1009;
            if (a[k]) { sum += a[k][0]; free(a[k]); }
            a[k] = malloc(n);
            if (!a[k]) DIE("malloc failed");
            a[k][0] = (unsigned char)(x >> 40); a[k][n - 1] = 1;
        }
        pthread_barrier_wait(&bar);
    }
    sums[t] = sum;
    return NULL;
}

int main(int argc, char **argv) {
    threads = argc > 1 ? atoi(argv[1]) : 1;
    rounds = argc > 2 ? atoi(argv[2]) : 20;
    if (threads < 1 || threads > 64) DIE("threads out of range");
    for (int t = 0; t < threads; t++) arrays[t] = calloc(SLOTS, sizeof(void *));
    pthread_barrier_init(&bar, NULL, threads);
    pthread_t th[64];
    double t0 = now_s();
    for (long t = 0; t < threads; t++) pthread_create(&th[t], NULL, run, (void *)t);
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    uint64_t sum = 0;
    for (int t = 0; t < threads; t++) {
        sum += sums[t];
        for (int k = 0; k < SLOTS; k++) free(arrays[t][k]);
        free(arrays[t]);
    }
    report(now_s() - t0, sum);
    return 0;
}
