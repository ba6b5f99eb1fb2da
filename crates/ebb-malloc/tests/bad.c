/* Bad frees, one per argument: "invalid" frees a stack address, "interior" a pointer into
 * a block, "double" frees a block twice, "double_remote" frees it twice from another thread.
 * Each should abort with a message before printing "survived". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *p_shared;
static void *twice(void *arg) { (void)arg; free(p_shared); free(p_shared); return NULL; }

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int local = 0;
    char *p = malloc(100);
    if (!strcmp(argv[1], "invalid")) free(&local);
    else if (!strcmp(argv[1], "interior")) free(p + 16);
    else if (!strcmp(argv[1], "double")) { free(p); free(p); }
    else if (!strcmp(argv[1], "double_large")) { char *volatile q = malloc(1 << 20); q[0] = 1; free(q); free(q); }
    else if (!strcmp(argv[1], "double_remote")) {
        p_shared = malloc(48);
        pthread_t t; pthread_create(&t, NULL, twice, NULL); pthread_join(t, NULL);
        for (int i = 0; i < 100000; i++) { void *volatile k = malloc(48); (void)k; } /* the owner runs out of blocks and collects */
    }
    else if (!strcmp(argv[1], "realloc_invalid")) { void *q = realloc(&local, 10); (void)q; }
    printf("survived\n");
    return 0;
}
