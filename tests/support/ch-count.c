// ch-count [MiB]: prints an increasing counter once per second (flushed),
// optionally after touching MiB of memory. The test job.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
// The memory stays resident and mostly unchanged: one page is written per
// second (a mostly idle job, for incremental checkpoints).
char *volatile memory;

int main(int argc, char **argv) {
    size_t bytes = (argc > 1 ? (size_t)atol(argv[1]) : 0) << 20;
    if (bytes) {
        memory = malloc(bytes);
        memset(memory, 0x5a, bytes);
    }
    for (unsigned long i = 0;; i++) {
        if (bytes) memory[(i * 4096) % bytes] = (char)i;
        printf("%lu\n", i);
        fflush(stdout);
        sleep(1);
    }
}
