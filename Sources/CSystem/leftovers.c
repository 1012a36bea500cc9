#define _GNU_SOURCE
// What a criu killed in the middle of a dump leaves in a task it had seized,
// and that makes the task trap (SIGTRAP) as soon as it runs again:
//   - its parasite, mapped from a memfd criu names "CRIUMFD";
//   - the instructions criu runs each system call of the task with, which it
//     writes over the first bytes of the task's first executable mapping and
//     puts back afterwards (compel's code_syscall: "syscall", or "int $0x80"
//     for a 32-bit task, then six int3). Registers criu set point there;
//   - a stopped thread whose instruction pointer is outside every executable
//     mapping: criu has its parasite unmap itself and stops the thread on
//     that call's exit, before it puts the thread's registers back; a criu
//     killed then leaves the thread standing in code that is gone.
// Read by the helper (before it kills a stalled criu) and by the supervisor
// (before and after criu is killed); see supervisor.c.
#include "include/CSystem.h"
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>

static const unsigned char chs_syscall_blob[8] = { 0x0f, 0x05, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc };
static const unsigned char chs_int80_blob[8] = { 0xcd, 0x80, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc };

/// The executable mappings seen so far: at most CHS_EXEC_RANGES; past that
/// the threads' positions are not judged (nothing is reported for them).
#define CHS_EXEC_RANGES 4096
struct exec_ranges {
    unsigned long start[CHS_EXEC_RANGES], end[CHS_EXEC_RANGES];
    int count;
    int overflowed;
};

/// One line of /proc/PID/maps: the parasite's mapping, or an executable
/// mapping whose first bytes are criu's instructions. Executable mappings
/// are added to `ranges`.
static int line_left_by_criu(const char *line, int mem, struct exec_ranges *ranges)
{
    if (strstr(line, "/memfd:CRIUMFD")) return CHS_CRIU_PARASITE;
    unsigned long start, end;
    char perms[5];
    if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3 || perms[2] != 'x') return CHS_CRIU_NOTHING;
    if (!ranges) {
        // no room to keep them: the threads' positions are not judged
    } else if (ranges->count < CHS_EXEC_RANGES) {
        ranges->start[ranges->count] = start;
        ranges->end[ranges->count] = end;
        ranges->count++;
    } else {
        ranges->overflowed = 1;
    }
    if (mem < 0) return CHS_CRIU_NOTHING;
    unsigned char code[8];
    if (pread(mem, code, sizeof code, (off_t)start) != (ssize_t)sizeof code) return CHS_CRIU_NOTHING;
    if (memcmp(code, chs_syscall_blob, sizeof code) == 0 || memcmp(code, chs_int80_blob, sizeof code) == 0)
        return CHS_CRIU_SYSCALL_CODE;
    return CHS_CRIU_NOTHING;
}

/// Reads PATH under PROC into `text` (NUL-terminated); its length, or -1.
static ssize_t read_small(int proc, const char *path, char *text, size_t size)
{
    int fd = openat(proc, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    ssize_t n = read(fd, text, size - 1);
    close(fd);
    if (n < 0) return -1;
    text[n] = 0;
    return n;
}

/// Whether thread TID of PID is stopped (ptrace stop "t" or job control
/// "T") with its instruction pointer outside every range: the pc is the
/// last field of /proc/PID/task/TID/syscall ("running" for a thread that
/// runs: nothing to judge).
static int thread_stranded(int proc, int pid, const char *tid, const struct exec_ranges *ranges)
{
    char path[96], text[512];
    snprintf(path, sizeof path, "%d/task/%s/stat", pid, tid);
    if (read_small(proc, path, text, sizeof text) < 0) return 0;
    // "TID (comm) S ...": the command may hold ")"; the state follows the last one.
    char *close_paren = strrchr(text, ')');
    if (!close_paren || close_paren[1] != ' ' || (close_paren[2] != 't' && close_paren[2] != 'T')) return 0;
    snprintf(path, sizeof path, "%d/task/%s/syscall", pid, tid);
    ssize_t n = read_small(proc, path, text, sizeof text);
    if (n <= 0 || strncmp(text, "running", 7) == 0) return 0;
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ')) text[--n] = 0;
    char *last = strrchr(text, ' ');
    if (!last) return 0;
    char *end;
    unsigned long pc = strtoul(last + 1, &end, 16);
    if (*end != 0 || pc == 0) return 0;
    for (int i = 0; i < ranges->count; i++)
        if (pc >= ranges->start[i] && pc < ranges->end[i]) return 0;
    return 1;
}

/// Whether a stopped thread of PID stands outside every executable mapping.
static int task_stranded(int proc, int pid, const struct exec_ranges *ranges)
{
    if (ranges->overflowed) return 0;
    char path[64];
    snprintf(path, sizeof path, "%d/task", pid);
    int fd = openat(proc, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return 0;
    DIR *threads = fdopendir(fd);
    if (!threads) { close(fd); return 0; }
    int found = 0;
    struct dirent *entry;
    while (!found && (entry = readdir(threads)) != NULL) {
        if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
        found = thread_stranded(proc, pid, entry->d_name, ranges);
    }
    closedir(threads);
    return found;
}

int chs_criu_left_in_task(int proc, int pid)
{
    // 64 KiB: on the heap (the supervisor is a forked child of a threaded process).
    struct exec_ranges *ranges = calloc(1, sizeof *ranges);
    char path[64];
    snprintf(path, sizeof path, "%d/maps", pid);
    int maps = openat(proc, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (maps < 0) { free(ranges); return CHS_CRIU_UNREADABLE; }
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
            found = line_left_by_criu(line, mem, ranges);
            line = newline + 1;
        }
        kept = length - (size_t)(line - text);
        if (kept == sizeof text - 1) kept = 0;   // no line is that long: drop it
        memmove(text, line, kept);
    }
    if (found == CHS_CRIU_NOTHING && kept > 0) {
        text[kept] = 0;
        found = line_left_by_criu(text, mem, ranges);
    }
    if (mem >= 0) close(mem);
    close(maps);
    if (found == CHS_CRIU_NOTHING && ranges && task_stranded(proc, pid, ranges)) found = CHS_CRIU_STRANDED_THREAD;
    free(ranges);
    return found;
}
