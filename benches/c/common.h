/* Shared helpers of the `global` suite's C workloads: a clock, an xorshift generator and
 * the result line the suite parses. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline uint64_t xs(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

#define DIE(msg) do { fprintf(stderr, "%s\n", msg); exit(1); } while (0)

/* The process's own peak RSS (VmHWM) in KiB: the parent's ru_maxrss of a child started
 * with vfork/posix_spawn includes the parent's RSS at the exec. */
static long peak_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) { kb = atol(line + 6); break; }
    fclose(f);
    return kb;
}

static void report(double wall, uint64_t checksum) {
    printf("wall_s=%.6f checksum=%llu peak_kb=%ld\n", wall, (unsigned long long)checksum, peak_kb());
}
