#define _GNU_SOURCE
// What a criu killed in the middle of a dump leaves in a task it had seized,
// and that makes the task trap (SIGTRAP) as soon as it runs again:
//   - its parasite, mapped from a memfd criu names "CRIUMFD";
//   - the instructions criu runs each system call of the task with, which it
//     writes over the first bytes of the task's first executable mapping and
//     puts back afterwards (compel's code_syscall: "syscall", or "int $0x80"
//     for a 32-bit task, then six int3). Registers criu set point there.
// Read by the helper (before it kills a stalled criu) and by the supervisor
// (before and after criu is killed); see supervisor.c.
#include "include/CSystem.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char chs_syscall_blob[8] = { 0x0f, 0x05, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc };
static const unsigned char chs_int80_blob[8] = { 0xcd, 0x80, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc };

/// One line of /proc/PID/maps: the parasite's mapping, or an executable
/// mapping whose first bytes are criu's instructions.
static int line_left_by_criu(const char *line, int mem)
{
    if (strstr(line, "/memfd:CRIUMFD")) return CHS_CRIU_PARASITE;
    unsigned long start, end;
    char perms[5];
    if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3 || perms[2] != 'x' || mem < 0) return CHS_CRIU_NOTHING;
    unsigned char code[8];
    if (pread(mem, code, sizeof code, (off_t)start) != (ssize_t)sizeof code) return CHS_CRIU_NOTHING;
    if (memcmp(code, chs_syscall_blob, sizeof code) == 0 || memcmp(code, chs_int80_blob, sizeof code) == 0)
        return CHS_CRIU_SYSCALL_CODE;
    return CHS_CRIU_NOTHING;
}

int chs_criu_left_in_task(int proc, int pid)
{
    char path[64];
    snprintf(path, sizeof path, "%d/maps", pid);
    int maps = openat(proc, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (maps < 0) return CHS_CRIU_UNREADABLE;
    snprintf(path, sizeof path, "%d/mem", pid);
    int mem = openat(proc, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int found = CHS_CRIU_NOTHING;
    // Lines are at most a path long: a 16 KiB window always holds one whole.
    char text[16384];
    size_t kept = 0;
    ssize_t n;
    while (found == CHS_CRIU_NOTHING && (n = read(maps, text + kept, sizeof text - 1 - kept)) > 0) {
        size_t length = kept + (size_t)n;
        text[length] = 0;
        char *line = text;
        char *newline;
        while (found == CHS_CRIU_NOTHING && (newline = strchr(line, '\n')) != NULL) {
            *newline = 0;
            found = line_left_by_criu(line, mem);
            line = newline + 1;
        }
        kept = length - (size_t)(line - text);
        if (kept == sizeof text - 1) kept = 0;   // no line is that long: drop it
        memmove(text, line, kept);
    }
    if (found == CHS_CRIU_NOTHING && kept > 0) {
        text[kept] = 0;
        found = line_left_by_criu(text, mem);
    }
    if (mem >= 0) close(mem);
    close(maps);
    return found;
}
