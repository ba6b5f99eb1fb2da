/* Exercises an LD_PRELOAD malloc: mixed sizes, every alignment, realloc chains,
 * threads with cross-thread frees, and fork. Prints one line per check; exits non-zero on
 * the first failure. Built and run by tests/preload.rs. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAIL(...) do { fprintf(stderr, "FAIL: " __VA_ARGS__); fprintf(stderr, "\n"); exit(1); } while (0)

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(uint64_t *s) { *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17; return *s; }

static void fill(unsigned char *p, size_t n, unsigned char v) { memset(p, v, n); }
static void check(const unsigned char *p, size_t n, unsigned char v, const char *what) {
    for (size_t i = 0; i < n; i++) if (p[i] != v) FAIL("%s: byte %zu of %zu is %u, want %u", what, i, n, p[i], v);
}

static void mixed_sizes(void) {
    enum { N = 20000 };
    static unsigned char *ptrs[N]; static size_t sizes[N];
    uint64_t s = rng_state;
    for (int i = 0; i < N; i++) {
        uint64_t r = rnd(&s);
        size_t n = (r % 100 < 90) ? 1 + r % 512 : (r % 100 < 99 ? 1 + r % 65536 : 1 + r % (4 << 20));
        ptrs[i] = malloc(n); sizes[i] = n;
        if (!ptrs[i]) FAIL("malloc(%zu)", n);
        if ((uintptr_t)ptrs[i] % 16) FAIL("malloc(%zu) not 16-aligned", n);
        if (malloc_usable_size(ptrs[i]) < n) FAIL("usable size");
        fill(ptrs[i], n, (unsigned char)i);
    }
    for (int i = 0; i < N; i += 2) { check(ptrs[i], sizes[i], (unsigned char)i, "mixed"); free(ptrs[i]); }
    for (int i = 1; i < N; i += 2) { check(ptrs[i], sizes[i], (unsigned char)i, "mixed"); free(ptrs[i]); }
    unsigned char *z = calloc(1000, 33);
    if (!z) FAIL("calloc");
    check(z, 33000, 0, "calloc");
    free(z);
    printf("mixed sizes ok\n");
}

static void alignments(void) {
    for (size_t a = 1; a <= (size_t)1 << 24; a <<= 1) {
        size_t sizes[] = {1, 24, 100, 4096, 70000, 300000};
        for (int k = 0; k < 6; k++) {
            void *p = NULL;
            if (a >= sizeof(void *)) {
                int rc = posix_memalign(&p, a, sizes[k]);
                if (rc || !p || (uintptr_t)p % a) FAIL("posix_memalign(%zu, %zu) rc %d", a, sizes[k], rc);
                fill(p, sizes[k], 7); free(p);
            }
            p = aligned_alloc(a, sizes[k]);
            if (!p || (uintptr_t)p % a) FAIL("aligned_alloc(%zu, %zu)", a, sizes[k]);
            fill(p, sizes[k], 8); free(p);
            p = memalign(a, sizes[k]);
            if (!p || (uintptr_t)p % a) FAIL("memalign(%zu, %zu)", a, sizes[k]);
            free(p);
        }
    }
    void *p = valloc(10); if (!p || (uintptr_t)p % 4096) FAIL("valloc"); free(p);
    p = pvalloc(10); if (!p || (uintptr_t)p % 4096 || malloc_usable_size(p) < 4096) FAIL("pvalloc"); free(p);
    void *q = (void *)0x1234;
    if (posix_memalign(&q, 24, 10) != EINVAL || q != (void *)0x1234) FAIL("posix_memalign(24) not EINVAL");
    if (posix_memalign(&q, 4, 10) != EINVAL || q != (void *)0x1234) FAIL("posix_memalign(4) not EINVAL");
    errno = 0; if (aligned_alloc(3, 10) != NULL || errno != EINVAL) FAIL("aligned_alloc(3)");
    errno = 0; if (calloc(SIZE_MAX / 2, 3) != NULL || errno != ENOMEM) FAIL("calloc overflow");
    errno = 0; if (malloc(SIZE_MAX - 10) != NULL || errno != ENOMEM) FAIL("malloc(huge)");
    errno = 0; if (reallocarray(NULL, SIZE_MAX / 2, 3) != NULL || errno != ENOMEM) FAIL("reallocarray overflow");
    printf("alignments ok\n");
}

static void realloc_chains(void) {
    for (int chain = 0; chain < 20; chain++) {
        unsigned char *p = NULL; size_t n = 0;
        for (size_t m = 1; m < ((size_t)3 << 20); m = m * 5 / 4 + 1) {
            unsigned char *q = realloc(p, m);
            if (!q) FAIL("realloc(%zu)", m);
            check(q, n < m ? n : m, (unsigned char)chain, "realloc chain");
            fill(q, m, (unsigned char)chain);
            p = q; n = m;
        }
        for (size_t m = n; m > 1; m /= 3) {
            unsigned char *q = realloc(p, m);
            if (!q) FAIL("realloc shrink");
            check(q, m, (unsigned char)chain, "realloc shrink");
            p = q;
        }
        if (realloc(p, 0) != NULL) FAIL("realloc(p, 0) is not NULL");
    }
    void *p = realloc(NULL, 50); if (!p) FAIL("realloc(NULL)"); free(p);
    printf("realloc chains ok\n");
}

#define THREADS 4
#define PER 50000
static unsigned char *slots[THREADS][PER];
static pthread_barrier_t barrier;

static void *worker(void *arg) {
    long t = (long)arg;
    uint64_t s = 1234567 + t;
    for (int i = 0; i < PER; i++) {
        size_t n = 1 + rnd(&s) % 2000;
        slots[t][i] = malloc(n);
        if (!slots[t][i]) FAIL("thread malloc");
        slots[t][i][0] = (unsigned char)t; slots[t][i][n - 1] = (unsigned char)t;
    }
    pthread_barrier_wait(&barrier);
    /* free the next thread's objects */
    long o = (t + 1) % THREADS;
    for (int i = 0; i < PER; i++) {
        if (slots[o][i][0] != (unsigned char)o) FAIL("cross-thread contents");
        free(slots[o][i]);
    }
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < PER; i++) { void *p = malloc(64); free(p); }
    return NULL;
}

static void threads(void) {
    pthread_t th[THREADS];
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (long t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, worker, (void *)t);
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    printf("threads and cross-thread frees ok\n");
}

static void *spinner(void *arg) {
    (void)arg;
    for (int i = 0; i < 200000; i++) { void *p = malloc(1 + i % 300); free(p); }
    return NULL;
}

static void forks(void) {
    pthread_t th;
    pthread_create(&th, NULL, spinner, NULL);
    for (int k = 0; k < 20; k++) {
        void *before = malloc(100); memset(before, 1, 100);
        pid_t pid = fork();
        if (pid < 0) FAIL("fork");
        if (pid == 0) {
            for (int i = 0; i < 10000; i++) { void *p = malloc(1 + i % 5000); memset(p, 2, 1 + i % 5000); free(p); }
            check(before, 100, 1, "fork child sees parent's block");
            free(before);
            _exit(0);
        }
        int st; waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) FAIL("fork child status %d", st);
        free(before);
    }
    pthread_join(th, NULL);
    printf("fork ok\n");
}

int main(void) {
    mixed_sizes();
    alignments();
    realloc_chains();
    threads();
    forks();
    printf("all ok\n");
    return 0;
}
