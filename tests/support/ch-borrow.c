// ch-borrow SECONDS: run as a test user during a criu-helper restore of a
// multi-threaded task. Finds the restored task (a child of the caller's criu
// with two or more threads) and watches for a thread whose memory the caller
// may write (its /proc/PID/task/TID/mem opens read-write) while another thread
// of the same task still holds a capability. The threads share one address
// space, so code written there runs in the capable one: the red team went on
// to inject code that forked a process keeping cap_checkpoint_restore. This
// program writes nothing; it reports whether that moment came.
//   exit 0, "exposed: ...": it did
//   exit 1, "not exposed: ...": criu ended, or SECONDS passed, before it did
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uid_t me;

/// The first process of the caller's whose comm is `want`, or 0.
static int find_comm(const char *want)
{
    DIR *d = opendir("/proc");
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char path[300], comm[64] = { 0 };
        snprintf(path, sizeof path, "/proc/%s/comm", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0) continue;
        ssize_t n = read(fd, comm, sizeof comm - 1);
        close(fd);
        if (n <= 0) continue;
        comm[strcspn(comm, "\n")] = 0;
        struct stat st;
        snprintf(path, sizeof path, "/proc/%s", e->d_name);
        if (strcmp(comm, want) == 0 && stat(path, &st) == 0 && st.st_uid == me) found = atoi(e->d_name);
    }
    closedir(d);
    return found;
}

/// CapPrm of a thread, or -1.
static long permitted(int pid, int tid)
{
    char path[96], text[4096];
    snprintf(path, sizeof path, "/proc/%d/task/%d/status", pid, tid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return -1;
    text[n] = 0;
    char *c = strstr(text, "CapPrm:\t");
    return c ? strtol(c + 8, NULL, 16) : -1;
}

static int threads(int pid, int *out, int max)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) && n < max)
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9') out[n++] = atoi(e->d_name);
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    me = getuid();
    time_t end = time(NULL) + (argc > 1 ? atoi(argv[1]) : 60);
    int criu = 0;
    while (!criu && time(NULL) < end) criu = find_comm("criu");
    if (!criu) { printf("not exposed: no criu of mine ran\n"); return 1; }
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", criu, criu);
    int children = open(path, O_RDONLY);
    static int tids[100000];
    int root = 0, n = 0;
    while (!root && time(NULL) < end && kill(criu, 0) == 0) {
        char text[4096];
        ssize_t k = children >= 0 ? pread(children, text, sizeof text - 1, 0) : -1;
        if (k <= 0) continue;
        text[k] = 0;
        for (char *p = text; *p && !root;) {
            int pid = (int)strtol(p, &p, 10);
            if (pid == 0) break;
            if ((n = threads(pid, tids, 100000)) >= 2) root = pid;
        }
    }
    if (!root) { printf("not exposed: criu restored no multi-threaded task\n"); return 1; }
    while (time(NULL) < end && kill(root, 0) == 0) {
        n = threads(root, tids, 100000);
        for (int i = n - 1; i >= 0; i--) {
            snprintf(path, sizeof path, "/proc/%d/task/%d/mem", root, tids[i]);
            int mem = open(path, O_RDWR);
            if (mem < 0) continue;
            close(mem);
            for (int j = 0; j < n; j++) {
                long caps = permitted(root, tids[j]);
                if (j != i && caps > 0) {
                    printf("exposed: thread %d of task %d is writable while thread %d holds CapPrm %016lx\n", tids[i], root, tids[j], caps);
                    return 0;
                }
            }
            break;
        }
    }
    printf("not exposed: no thread was writable while another held a capability\n");
    return 1;
}
