// ch-poke-stop PID UID SECONDS: waits (at most SECONDS) for the criu of UID
// to poke its syscall instructions into PID (x86-64: "syscall" then six
// "int3", at the start of an executable mapping, where criu runs each
// system call it makes the task do) and stops that criu with SIGSTOP at
// that moment. Prints "caught" when criu stood stopped with the
// instructions still in the task, "late" when criu had put the task's code
// back before it stopped, "missed" when the time ran out. The caller of a
// dump can do this to her own job; a criu killed then leaves a task that
// traps on its next instruction.
#include <signal.h>
#include <time.h>
#include "find-criu.h"

static const unsigned char blob[8] = { 0x0f, 0x05, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc };

// 1 when an executable mapping of PID starts with the blob.
static int poked(int pid)
{
    char path[64], text[65536];
    if (read_proc(pid, "maps", text, sizeof text) <= 0) return 0;
    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    int mem = open(path, O_RDONLY);
    if (mem < 0) return 0;
    int found = 0;
    for (char *line = text; !found && line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        unsigned long start, end;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3 || perms[2] != 'x') continue;
        unsigned char code[8];
        if (pread(mem, code, sizeof code, (off_t)start) == sizeof code && memcmp(code, blob, sizeof code) == 0) found = 1;
    }
    close(mem);
    return found;
}

static char state_of(int pid)
{
    char text[512];
    const char *fields = stat_fields(pid, text, sizeof text);
    return fields ? fields[0] : 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) { fprintf(stderr, "usage: ch-poke-stop PID UID SECONDS\n"); return 2; }
    int pid = atoi(argv[1]);
    uid_t uid = (uid_t)atoi(argv[2]);
    time_t until = time(NULL) + atoi(argv[3]);
    int criu = 0;
    while (time(NULL) < until) {
        if (!criu || kill(criu, 0) != 0) { criu = find_criu(uid); continue; }
        if (!poked(pid)) continue;
        kill(criu, SIGSTOP);
        for (int i = 0; i < 100000 && state_of(criu) != 'T'; i++) {}
        printf(state_of(criu) == 'T' && poked(pid) ? "caught\n" : "late\n");
        return 0;
    }
    printf("missed\n");
    return 1;
}
