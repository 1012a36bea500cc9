/* ticker THREADS TICKS [sleep]: a tick every 20 ms, from a timerfd waited on
 * with epoll (or, with "sleep", from clock_nanosleep); each tick prints
 * "tick N" (flushed); after TICKS ticks it prints "done N" and exits 0
 * (TICKS 0: never). THREADS - 1 more threads compute without pause, so that
 * at a dump and at a restore some are running. The job of
 * bench/restore-loops.sh. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static void *compute(void *arg)
{
	uint64_t x = (uintptr_t)arg + 1;
	for (;;) {
		for (int i = 0; i < 1000000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		sink = x;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	long ticks = argc > 2 ? atol(argv[2]) : 0;
	int sleeping = argc > 3 && strcmp(argv[3], "sleep") == 0;
	for (int i = 1; i < threads; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, compute, (void *)(uintptr_t)i) != 0)
			return 70;
	}
	int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
	struct itimerspec period = {{0, 20000000}, {0, 20000000}};
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN};
	if (tfd < 0 || ep < 0 || timerfd_settime(tfd, 0, &period, NULL) != 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) != 0)
		return 70;
	for (long n = 1; ticks == 0 || n <= ticks; n++) {
		if (sleeping) {
			struct timespec pause = {0, 20000000};
			while (clock_nanosleep(CLOCK_MONOTONIC, 0, &pause, &pause) != 0)
				;
		} else {
			struct epoll_event got;
			uint64_t expirations;
			while (epoll_wait(ep, &got, 1, -1) != 1)
				;
			if (read(tfd, &expirations, sizeof expirations) != sizeof expirations)
				return 70;
		}
		printf("tick %ld\n", n);
		fflush(stdout);
	}
	printf("done %ld\n", ticks);
	return 0;
}
