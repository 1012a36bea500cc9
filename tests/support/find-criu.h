// find_criu(UID): one pass over /proc for a process named "criu" owned by
// UID; its PID, or 0. For the test programs that act the moment criu
// appears (ch-swap, ch-exchange, ch-poke-stop). read_proc and stat_fields:
// what they read of a process.
#ifndef FIND_CRIU_H
#define FIND_CRIU_H
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int find_criu(uid_t uid)
{
    DIR *d = opendir("/proc");
    if (!d) return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char path[300], comm[32] = { 0 };
        snprintf(path, sizeof path, "/proc/%s/comm", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0) continue;
        ssize_t n = read(fd, comm, sizeof comm - 1);
        close(fd);
        struct stat st;
        snprintf(path, sizeof path, "/proc/%s", e->d_name);
        if (n <= 0 || strncmp(comm, "criu\n", 5) != 0 || stat(path, &st) != 0 || st.st_uid != uid) continue;
        found = atoi(e->d_name);
    }
    closedir(d);
    return found;
}
/// /proc/PID/NAME into TEXT (SIZE bytes), NUL-terminated: its length, or -1.
static inline ssize_t read_proc(int pid, const char *name, char *text, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, text, size - 1);
    close(fd);
    if (n < 0) return -1;
    text[n] = 0;
    return n;
}

/// The fields of /proc/PID/stat after the name (the state first), read into
/// TEXT; NULL when it cannot be read.
static inline const char *stat_fields(int pid, char *text, size_t size)
{
    if (read_proc(pid, "stat", text, size) <= 0) return NULL;
    char *end = strrchr(text, ')');
    return end && end[1] == ' ' && end[2] ? end + 2 : NULL;
}
#endif
