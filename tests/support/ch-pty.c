/* ch-pty STEPS: a job with a pseudo-terminal of its own. A child in a
 * session of its own opens /dev/ptmx and the slave (its controlling
 * terminal, raw mode) and /dev/tty; every 50 ms one step: a line written
 * to the master is read from the slave, and a line written to /dev/tty is
 * read from the master. Prints "pty /dev/pts/N" once, "step I" after each
 * step's round trip, "done STEPS" at the end, "FAIL ..." on any error. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static void fail(const char *what) { printf("FAIL %s\n", what); fflush(stdout); exit(1); }

static void read_line(int fd, const char *want) {
	char buf[64];
	size_t n = 0, len = strlen(want);
	while (n < len) {
		ssize_t r = read(fd, buf + n, len - n);
		if (r <= 0) fail("read");
		n += (size_t)r;
	}
	if (memcmp(buf, want, len) != 0) fail("unexpected data");
}

int main(int argc, char **argv) {
	int steps = argc > 1 ? atoi(argv[1]) : 40;
	setvbuf(stdout, NULL, _IOLBF, 0);
	pid_t child = fork();
	if (child < 0) fail("fork");
	if (child > 0) {
		int status;
		if (waitpid(child, &status, 0) != child) fail("waitpid");
		return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
	if (setsid() < 0) fail("setsid");
	int master = posix_openpt(O_RDWR);
	if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) fail("ptmx");
	const char *name = ptsname(master);
	if (!name) fail("ptsname");
	int slave = open(name, O_RDWR); /* a session leader's first terminal: its controlling one */
	if (slave < 0) fail("slave");
	struct termios t;
	if (tcgetattr(slave, &t) != 0) fail("tcgetattr");
	cfmakeraw(&t);
	if (tcsetattr(slave, TCSANOW, &t) != 0) fail("tcsetattr");
	int tty = open("/dev/tty", O_RDWR);
	if (tty < 0) fail("/dev/tty");
	printf("pty %s\n", name);
	for (int i = 1; i <= steps; i++) {
		char line[32];
		int n = snprintf(line, sizeof line, "tick %d\n", i);
		if (write(master, line, (size_t)n) != n) fail("write master");
		read_line(slave, line);
		n = snprintf(line, sizeof line, "ack %d\n", i);
		if (write(tty, line, (size_t)n) != n) fail("write /dev/tty");
		read_line(master, line);
		printf("step %d\n", i);
		struct timespec pause = {0, 50 * 1000 * 1000};
		nanosleep(&pause, NULL);
	}
	printf("done %d\n", steps);
	return 0;
}
