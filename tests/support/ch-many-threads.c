// ch-many-threads N: a job with N threads besides the main one, all idle,
// and a counter printed once a second by the main thread.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static void *idle(void *arg) { (void)arg; for (;;) pause(); return NULL; }
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, &attr, idle, NULL) != 0) { perror("pthread_create"); return 1; }
    }
    for (unsigned long i = 0;; i++) { printf("%lu\n", i); fflush(stdout); sleep(1); }
}
