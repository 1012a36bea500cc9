// zdtm-hold TEST [ARG...]: the root of a zdtm test under `criu-helper run`.
// A zdtm test daemonizes (its first process exits once the test is ready), so
// under `run`, whose job ends with its root, the test needs a root that
// stays: this one is a child subreaper (the daemonized test stays in its
// tree, and so in what `criu-helper dump` checkpoints), waits until every
// child has ended, and passes SIGTERM, SIGINT and SIGHUP on to its children.
// Exit status: 0 when every child exited 0, 1 otherwise.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// Sends SIG to every child of every thread of this process.
static void forward(int sig) {
    DIR *tasks = opendir("/proc/self/task");
    struct dirent *t;
    if (!tasks) return;
    while ((t = readdir(tasks))) {
        char path[300], buf[4096];
        if (t->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/children", t->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        for (char *s = strtok(buf, " \n"); s; s = strtok(NULL, " \n")) kill(atoi(s), sig);
    }
    closedir(tasks);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: zdtm-hold TEST [ARG...]\n"); return 64; }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1)) { perror("zdtm-hold: PR_SET_CHILD_SUBREAPER"); return 70; }
    // The signals to pass on are blocked and taken with sigtimedwait; children
    // are reaped between two waits (at most 100 ms apart).
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    pid_t child = fork();
    if (child < 0) { perror("zdtm-hold: fork"); return 70; }
    if (child == 0) {
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        execv(argv[1], argv + 1);
        perror("zdtm-hold: exec");
        _exit(127);
    }
    int failed = 0;
    for (;;) {
        int status;
        pid_t p;
        while ((p = waitpid(-1, &status, WNOHANG)) > 0)
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
        if (p < 0 && errno == ECHILD) break;
        struct timespec tick = { 0, 100 * 1000 * 1000 };
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig > 0 && sig != SIGCHLD) forward(sig);
    }
    return failed;
}
