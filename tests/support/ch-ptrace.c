// ch-ptrace PID: tries PTRACE_SEIZE on PID, as the red team did on the job's
// reaper; prints "seized" or "refused: ERRNO" and exits 0 or 1.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
int main(int argc, char **argv) {
    if (argc != 2) return 64;
    if (ptrace(PTRACE_SEIZE, atoi(argv[1]), 0, 0) == 0) { puts("seized"); return 0; }
    printf("refused: %s\n", strerror(errno));
    return 1;
}
