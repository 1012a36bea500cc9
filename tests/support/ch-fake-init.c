// ch-fake-init CMD...: PID 1 of namespaces someone other than criu-helper
// made, looking like criu-helper's reaper (not dumpable, the user's uid):
// runs CMD and reaps.
#include <errno.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2) return 64;
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    pid_t child = fork();
    if (child == 0) { setsid(); execvp(argv[1], argv + 1); _exit(127); }
    int status;
    for (;;) if (waitpid(-1, &status, 0) < 0 && errno == ECHILD) return 0;
}
