/* Growing buffers: each thread grows 16 buffers by realloc in small random steps up to
 * 1 MiB, checking the contents survive each move, then frees them; ROUNDS times.
 * usage: c_realloc THREADS ROUNDS */
#include "common.h"

static int rounds;
static uint64_t sums[64];

static void *run(void *arg) {
    long t = (long)arg;
    uint64_t s = 7 + t, sum = 0;
    for (int r = 0; r < rounds; r++) {
        unsigned char *b[16] = {0};
        size_t n[16] = {0};
        int live = 16;
        while (live) {
            live = 0;
            for (int i = 0; i < 16; i++) {
                if (n[i] >= (1 << 20)) continue;
                live++;
                size_t m = n[i] + 1 + xs(&s) % 4096;
                unsigned char *q = realloc(b[i], m);
                if (!q) DIE("realloc failed");
                if (n[i] && (q[0] != (unsigned char)i || q[n[i] - 1] != (unsigned char)n[i])) DIE("contents lost");
                q[0] = (unsigned char)i; q[m - 1] = (unsigned char)m;
                b[i] = q; n[i] = m;
            }
        }
        for (int i = 0; i < 16; i++) { sum += b[i][0]; free(b[i]); }
    }
    sums[t] = sum;
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    rounds = argc > 2 ? atoi(argv[2]) : 2;
    if (threads < 1 || threads > 64) DIE("threads out of range");
    pthread_t th[64];
    double t0 = now_s();
    for (long t = 0; t < threads; t++) pthread_create(&th[t], NULL, run, (void *)t);
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    uint64_t sum = 0;
    for (int t = 0; t < threads; t++) sum += sums[t];
    report(now_s() - t0, sum);
    return 0;
}
