/* ch-procfile STEPS: a job that keeps /proc files of its own tasks open:
 * /proc/PID/stat of itself and /proc/CHILD/status of its child, both
 * read-only. Every 50 ms one step: both are read again from the start
 * (pread) and must still be its own and its child's (the PIDs they show).
 * Prints "step I", "done STEPS", or "FAIL ...". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static void fail(const char *what) { printf("FAIL %s\n", what); fflush(stdout); exit(1); }

int main(int argc, char **argv) {
	int steps = argc > 1 ? atoi(argv[1]) : 40;
	setvbuf(stdout, NULL, _IOLBF, 0);
	pid_t child = fork();
	if (child < 0) fail("fork");
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;) pause();
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", getpid());
	int own = open(path, O_RDONLY);
	snprintf(path, sizeof path, "/proc/%d/status", child);
	int theirs = open(path, O_RDONLY);
	if (own < 0 || theirs < 0) fail("open");
	for (int i = 1; i <= steps; i++) {
		char buf[4096], want[64];
		ssize_t n = pread(own, buf, sizeof buf - 1, 0);
		if (n <= 0) fail("read own stat");
		buf[n] = 0;
		snprintf(want, sizeof want, "%d (", getpid());
		if (strncmp(buf, want, strlen(want)) != 0) fail("own stat is another process's");
		n = pread(theirs, buf, sizeof buf - 1, 0);
		if (n <= 0) fail("read child status");
		buf[n] = 0;
		snprintf(want, sizeof want, "\nPid:\t%d\n", child);
		if (!strstr(buf, want)) fail("child status is another process's");
		printf("step %d\n", i);
		struct timespec pause50 = {0, 50 * 1000 * 1000};
		nanosleep(&pause50, NULL);
	}
	kill(child, SIGKILL);
	printf("done %d\n", steps);
	return 0;
}
