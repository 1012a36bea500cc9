// ch-swap TARGET REPLACEMENT SECONDS [stop-helper]: run as a test user.
// Waits for a criu process of the caller's, stops it (SIGSTOP) the moment it
// appears, renames REPLACEMENT over TARGET, and lets criu go on (SIGCONT): a
// path swapped after criu-helper checked it and before criu opens it again
// by path. With "stop-helper" it also stops criu's grandparent (the helper;
// criu's parent is the job's reaper), so that the helper's own check after
// criu never comes while criu finishes.
// Prints "swapped" and exits 0, or "no criu" and exits 1.
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

/// The parent of `pid` (from /proc/PID/stat), or 0.
static int parent_of(int pid)
{
    char path[64], text[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return 0;
    text[n] = 0;
    char *end = strrchr(text, ')');
    int ppid = 0;
    if (end) sscanf(end + 2, "%*c %d", &ppid);
    return ppid;
}

int main(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "usage: ch-swap TARGET REPLACEMENT SECONDS [stop-helper]\n"); return 2; }
    uid_t me = getuid();
    time_t end = time(NULL) + atoi(argv[3]);
    while (time(NULL) < end) {
        DIR *d = opendir("/proc");
        if (!d) return 1;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
            char path[300], comm[32] = { 0 };
            snprintf(path, sizeof path, "/proc/%s/comm", e->d_name);
            int fd = open(path, O_RDONLY);
            if (fd < 0) continue;
            ssize_t n = read(fd, comm, sizeof comm - 1);
            close(fd);
            struct stat st;
            snprintf(path, sizeof path, "/proc/%s", e->d_name);
            if (n <= 0 || strncmp(comm, "criu\n", 5) != 0 || stat(path, &st) != 0 || st.st_uid != me) continue;
            int pid = atoi(e->d_name);
            kill(pid, SIGSTOP);
            if (argc > 4 && strcmp(argv[4], "stop-helper") == 0) {
                int helper = parent_of(parent_of(pid));
                if (helper > 1) kill(helper, SIGSTOP);
            }
            int moved = rename(argv[2], argv[1]);
            kill(pid, SIGCONT);
            printf(moved == 0 ? "swapped\n" : "rename failed\n");
            return moved == 0 ? 0 : 1;
        }
        closedir(d);
    }
    printf("no criu\n");
    return 1;
}
