// criu-probe: stands in for criu in tests. Records exactly what criu-helper
// hands it — argv, environment, capabilities, no_new_privs, open
// descriptors, signal state, the helper's dumpability and core limit — to
// /tmp/criu-probe.UID.txt, then acts the part asked for by a file the test
// (root) puts at /etc/criu-probe.mode:
//   "ok"        exit 0 (and for dump: write nothing)
//   "forge DIR" dump: copy every file of DIR into the images directory (fd 3)
//   "stray"     restore: leave a stopped child behind, not in the images
//   "fail"      exit 1
//   "hang"      sleep forever (criu-timeout must end it)
//   "leftover"  dump: leave a stopped child behind that keeps criu's
//               capability (and one that left criu's session), then exit 0
//   "fdtask PID PATH"  restore: become the restored task PID as criu would
//               (ns_last_pid, fork), holding PATH open, without capabilities,
//               stopped; as if a forged image had made criu open PATH
//   "swap NAME PATH FORGED"  restore: as a racing caller would, copy FORGED
//               over PATH (the caller's own image file, already validated),
//               then record whether NAME in the images directory criu reads
//               (fd 3) is the forged file or the one that was validated
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>
extern char **environ;
/// Lines of /proc/self/status that start with `prefix`.
static void copy_status(FILE *out, const char *prefix) {
    FILE *in = fopen("/proc/self/status", "r");
    char line[512];
    while (in && fgets(line, sizeof line, in))
        if (!strncmp(line, prefix, strlen(prefix))) fputs(line, out);
    if (in) fclose(in);
}
int main(int argc, char **argv) {
    char path[128];
    snprintf(path, sizeof path, "/tmp/criu-probe.%d.txt", (int)getuid());
    FILE *out = fopen(path, "w");
    if (!out) return 70;
    for (int i = 0; i < argc; i++) fprintf(out, "argv[%d]=%s\n", i, argv[i]);
    for (char **e = environ; *e; e++) fprintf(out, "env=%s\n", *e);
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd)) fprintf(out, "cwd=%s\n", cwd);
    copy_status(out, "Cap");
    copy_status(out, "NoNewPrivs");
    copy_status(out, "SigBlk");
    copy_status(out, "SigIgn");
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char link[300], target[512] = "";
        snprintf(link, sizeof link, "/proc/self/fd/%s", de->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) target[n] = 0;
        if (atoi(de->d_name) != dirfd(d)) fprintf(out, "fd=%s %s\n", de->d_name, target);
    }
    if (d) closedir(d);
    char parent[64];
    struct stat st;
    snprintf(parent, sizeof parent, "/proc/%d/fd", (int)getppid());
    if (stat(parent, &st) == 0) fprintf(out, "parent-fd-owner=%d\n", (int)st.st_uid);
    snprintf(parent, sizeof parent, "/proc/%d/limits", (int)getppid());
    FILE *lim = fopen(parent, "r");
    char line[512];
    while (lim && fgets(line, sizeof line, lim)) if (strstr(line, "core file")) fprintf(out, "parent-limit=%s", line);
    if (lim) fclose(lim);
    fclose(out);

    char mode[512] = "ok";
    FILE *m = fopen("/etc/criu-probe.mode", "r");
    if (m) { if (!fgets(mode, sizeof mode, m)) strcpy(mode, "ok"); fclose(m); }
    mode[strcspn(mode, "\n")] = 0;
    int is_dump = argc > 1 && !strcmp(argv[1], "dump");
    int is_restore = argc > 1 && !strcmp(argv[1], "restore");
    if (!strcmp(mode, "fail")) return 1;
    if (is_dump && !strncmp(mode, "forge ", 6)) {
        DIR *src = opendir(mode + 6);
        while (src && (de = readdir(src))) {
            if (de->d_name[0] == '.') continue;
            char from[1024];
            snprintf(from, sizeof from, "%s/%s", mode + 6, de->d_name);
            int in = open(from, O_RDONLY), outfd = openat(3, de->d_name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            char buf[65536];
            ssize_t n;
            while (in >= 0 && outfd >= 0 && (n = read(in, buf, sizeof buf)) > 0) if (write(outfd, buf, n) != n) break;
            if (in >= 0) close(in);
            if (outfd >= 0) close(outfd);
        }
        if (src) closedir(src);
    }
    if (is_restore && !strncmp(mode, "swap ", 5)) {
        char name[128], target[256], forged[256];
        if (sscanf(mode + 5, "%127s %255s %255s", name, target, forged) == 3) {
            char a[65536], b[65536];
            int f = open(forged, O_RDONLY), t = open(target, O_WRONLY | O_TRUNC);
            ssize_t fn = f >= 0 ? read(f, a, sizeof a) : -1;
            if (t >= 0 && fn > 0 && write(t, a, (size_t)fn) != fn) fn = -1;
            if (t >= 0) close(t);
            if (f >= 0) close(f);
            int staged = openat(3, name, O_RDONLY);
            ssize_t sn = staged >= 0 ? read(staged, b, sizeof b) : -1;
            if (staged >= 0) close(staged);
            FILE *rep = fopen(path, "a");
            if (rep) {
                fprintf(rep, "swapped=%s\n", fn > 0 ? "yes" : "no");
                fprintf(rep, "staged-%s=%s\n", name, sn == fn && fn > 0 && !memcmp(a, b, (size_t)fn) ? "forged" : "validated");
                fclose(rep);
            }
        }
    }
    if (!strcmp(mode, "hang")) for (;;) pause();
    if (is_dump && !strcmp(mode, "leftover")) {
        for (int k = 0; k < 2; k++) {
            pid_t p = fork();
            if (p == 0) {
                if (k == 1) setsid();
                raise(SIGSTOP);
                for (;;) pause();
            }
            // As criu does: return once the task is stopped (on a busy
            // machine the child may not have reached its raise() yet).
            int st;
            if (p > 0) waitpid(p, &st, WUNTRACED);
        }
        return 0;
    }
    if (is_restore && !strncmp(mode, "fdtask ", 7)) {
        int pid = 0;
        char file[256];
        if (sscanf(mode + 7, "%d %255s", &pid, file) == 2) {
            int last = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
            char digits[16];
            int n = snprintf(digits, sizeof digits, "%d", pid - 1);
            if (last >= 0) { if (write(last, digits, (size_t)n) != n) return 70; close(last); }
            pid_t p = fork();
            if (p == 0) {
                int fd = open(file, O_RDONLY);
                (void)fd;
                struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
                struct __user_cap_data_struct d[2];
                memset(d, 0, sizeof d);
                syscall(SYS_capset, &h, d);
                setsid();
                raise(SIGSTOP);
                for (;;) pause();
            }
            // As criu does: return once the task is stopped (on a busy
            // machine the child may not have reached its raise() yet).
            int st;
            if (p > 0) waitpid(p, &st, WUNTRACED);
        }
        return 0;
    }
    if (is_restore && !strcmp(mode, "stray")) {
        pid_t p = fork();
        if (p == 0) { setsid(); raise(SIGSTOP); for (;;) pause(); }
        int st;
        if (p > 0) waitpid(p, &st, WUNTRACED);
        FILE *pf = fopen("/tmp/criu-probe.stray", "w");
        if (pf) { fprintf(pf, "%d\n", (int)p); fclose(pf); }
    }
    return 0;
}
