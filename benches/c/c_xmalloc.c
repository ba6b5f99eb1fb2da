/* One thread allocates, the others free (after xmalloc-test): the producer fills batches
 * of blocks and hands them over a locked queue; THREADS-1 consumers check and free them
 * (with one thread, the producer frees its own batches).
 * usage: c_xmalloc THREADS BATCHES */
#include "common.h"

#define BATCH 256
struct batch { struct batch *next; unsigned char *p[BATCH]; };
static struct batch *head;
static int done, outstanding;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER, room = PTHREAD_COND_INITIALIZER;
static uint64_t sums[64];

static uint64_t eat(struct batch *b) {
    uint64_t sum = 0;
    for (int i = 0; i < BATCH; i++) { sum += b->p[i][0]; free(b->p[i]); }
    free(b);
    return sum;
}

static void *consumer(void *arg) {
    long t = (long)arg;
    uint64_t sum = 0;
    for (;;) {
        pthread_mutex_lock(&mu);
        while (!head && !done) pthread_cond_wait(&cv, &mu);
        struct batch *b = head;
        if (b) { head = b->next; outstanding--; pthread_cond_signal(&room); }
        pthread_mutex_unlock(&mu);
        if (!b) break;
        sum += eat(b);
    }
    sums[t] = sum;
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    int batches = argc > 2 ? atoi(argv[2]) : 4000;
    if (threads < 1 || threads > 64) DIE("threads out of range");
    pthread_t th[64];
    double t0 = now_s();
    for (long t = 1; t < threads; t++) pthread_create(&th[t], NULL, consumer, (void *)t);
    uint64_t s = 42, own = 0;
    for (int k = 0; k < batches; k++) {
        struct batch *b = malloc(sizeof *b);
        for (int i = 0; i < BATCH; i++) {
            size_t n = 8 + xs(&s) % 120;
            b->p[i] = malloc(n);
            if (!b->p[i]) DIE("malloc failed");
            b->p[i][0] = (unsigned char)i;
        }
        if (threads == 1) { own += eat(b); continue; }
        pthread_mutex_lock(&mu);
        while (outstanding >= 64) pthread_cond_wait(&room, &mu);
        b->next = head; head = b; outstanding++;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
    }
    pthread_mutex_lock(&mu); done = 1; pthread_cond_broadcast(&cv); pthread_mutex_unlock(&mu);
    for (int t = 1; t < threads; t++) pthread_join(th[t], NULL);
    uint64_t sum = own;
    for (int t = 1; t < threads; t++) sum += sums[t];
    report(now_s() - t0, sum);
    return 0;
}
