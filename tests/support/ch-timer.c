// ch-timer [INTERVAL_MS] [TICKS]: a periodic timerfd that fires, unread,
// before the job is checkpointed. It arms the timer (first expiry after one
// interval, then every interval), waits until the first expiry is pending
// and prints "expired"; then it waits for a file named "go" in its working
// directory without reading the timer (so the timer stays expired: the
// kernel re-arms a periodic timerfd only when it is read). Once "go" exists
// it reads the timer until TICKS expirations have been counted, printing
// "done TICKS". A timer restored disarmed counts the pending expirations
// and then blocks for ever, so "done" never comes.
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long interval = argc > 1 ? atol(argv[1]) : 20;
    uint64_t wanted = argc > 2 ? strtoull(argv[2], NULL, 10) : 50;
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (fd < 0) { perror("timerfd_create"); return 1; }
    struct itimerspec spec = {
        .it_interval = { interval / 1000, (interval % 1000) * 1000000 },
        .it_value = { interval / 1000, (interval % 1000) * 1000000 },
    };
    if (timerfd_settime(fd, 0, &spec, NULL) < 0) { perror("timerfd_settime"); return 1; }
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, -1) != 1) { perror("poll"); return 1; }
    printf("expired\n");
    fflush(stdout);
    while (access("go", F_OK) != 0) {
        struct timespec pause = { 0, 20 * 1000000 };
        nanosleep(&pause, NULL);
    }
    printf("go\n");
    fflush(stdout);
    uint64_t total = 0;
    while (total < wanted) {
        uint64_t n;
        if (read(fd, &n, sizeof n) != sizeof n) { perror("read"); return 1; }
        total += n;
    }
    printf("done %llu\n", (unsigned long long)total);
    fflush(stdout);
    for (;;) pause();
}
