// ch-reaper [--pidfile FILE] CMD...: runs CMD as a child subreaper, writes
// its PID to FILE, and reaps every orphan
// until none is left, so that test jobs never leave zombies holding PIDs
// (PID 1 on the test machines does not reap promptly).
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    const char *pidfile = NULL;
    int first = 1;
    if (argc > 3 && !strcmp(argv[1], "--pidfile")) { pidfile = argv[2]; first = 3; }
    if (argc <= first) return 64;
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    pid_t child = fork();
    if (child == 0) { execvp(argv[first], argv + first); _exit(127); }
    if (pidfile) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", pidfile);
        FILE *f = fopen(tmp, "w");
        if (f) { fprintf(f, "%d\n", (int)child); fclose(f); rename(tmp, pidfile); }
    }
    int status, code = 0;
    for (;;) {
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0 && errno == ECHILD) break;
        if (pid == child) code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return code;
}
