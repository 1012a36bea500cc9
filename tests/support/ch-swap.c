// ch-swap TARGET REPLACEMENT SECONDS [stop-helper]: run as a test user.
// Waits for a criu process of the caller's, stops it (SIGSTOP) the moment it
// appears, renames REPLACEMENT over TARGET, and lets criu go on (SIGCONT): a
// path swapped after criu-helper checked it and before criu opens it again
// by path. With "stop-helper" it also stops criu's grandparent (the helper;
// criu's parent is the job's reaper), so that the helper's own check after
// criu never comes while criu finishes.
// Prints "swapped" and exits 0, or "no criu" and exits 1.
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "find-criu.h"

/// The parent of `pid` (from /proc/PID/stat), or 0.
static int parent_of(int pid)
{
    char text[512];
    const char *fields = stat_fields(pid, text, sizeof text);
    int ppid = 0;
    if (fields) sscanf(fields, "%*c %d", &ppid);
    return ppid;
}

int main(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "usage: ch-swap TARGET REPLACEMENT SECONDS [stop-helper]\n"); return 2; }
    uid_t me = getuid();
    time_t end = time(NULL) + atoi(argv[3]);
    while (time(NULL) < end) {
        int pid = find_criu(me);
        if (!pid) continue;
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
    printf("no criu\n");
    return 1;
}
