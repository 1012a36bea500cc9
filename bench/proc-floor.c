// The kernel's share of the tree check: for every task of the tree under
// ROOT (walked through the children files, as the check walks it), the
// system calls the check cannot do without, and nothing else: pidfd_open,
// open /proc/PID, read its status, stat its fd directory and its user, PID,
// mount and network namespace links, read its children. Prints the microseconds the
// walk took and the number of tasks. No parsing, no checking: a floor, not a
// rival implementation.
//   usage: proc-floor ROOT-PID
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

int main(int argc, char **argv) {
	if (argc != 2) { fprintf(stderr, "usage: proc-floor ROOT-PID\n"); return 2; }
	static int queue[1 << 16];
	static char buf[1 << 16];
	int head = 0, tail = 0;
	queue[tail++] = atoi(argv[1]);
	int proc = open("/proc", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (proc < 0) { perror("/proc"); return 1; }
	long long start = now_us();
	while (head < tail) {
		int pid = queue[head++];
		char name[64];
		struct stat st;
		int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		snprintf(name, sizeof name, "%d", pid);
		int dir = openat(proc, name, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
		if (dir < 0) { if (pidfd >= 0) close(pidfd); continue; }
		int fd = openat(dir, "status", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) { while (read(fd, buf, sizeof buf) > 0) {} close(fd); }
		fstatat(dir, "fd", &st, AT_SYMLINK_NOFOLLOW);
		fstatat(dir, "ns/user", &st, 0);
		fstatat(dir, "ns/pid", &st, 0);
		fstatat(dir, "ns/mnt", &st, 0);
		fstatat(dir, "ns/net", &st, 0);
		snprintf(name, sizeof name, "task/%d/children", pid);
		fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			size_t len = 0;
			ssize_t n;
			while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)n;
			close(fd);
			buf[len] = 0;
			for (char *p = buf; *p;) {
				char *end;
				long child = strtol(p, &end, 10);
				if (end == p) break;
				if (tail < (int)(sizeof queue / sizeof queue[0])) queue[tail++] = (int)child;
				p = end;
				while (*p == ' ' || *p == '\n') p++;
			}
		}
		close(dir);
		if (pidfd >= 0) close(pidfd);
	}
	printf("%lld %d\n", now_us() - start, tail);
	return 0;
}
