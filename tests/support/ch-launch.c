// ch-launch [options] -- CMD...: test launcher run as root.
//   --user UID:GID    switch to this uid and gid (and only that group)
//   --caps N,N        keep these capabilities permitted, inheritable, effective and ambient
//   --nnp             set no_new_privs
//   --block-signals   block every signal and ignore SIGTERM, SIGINT, SIGCHLD before exec
//   --close-stdio     close descriptors 0, 1 and 2 before exec
//   --extra-fd        leave descriptor 7 open on /etc/hostname
//   --core-limit      set RLIMIT_CORE to unlimited
//   --deny-sendto     install a seccomp filter (as root) that fails sendto with EPERM
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stddef.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    int i = 1, nnp = 0, block = 0, closestd = 0, extra = 0, core = 0, ncaps = 0, deny = 0;
    long uid = -1, gid = -1;
    cap_value_t caps[64];
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (!strcmp(argv[i], "--user") && i + 1 < argc) { sscanf(argv[++i], "%ld:%ld", &uid, &gid); }
        else if (!strcmp(argv[i], "--caps") && i + 1 < argc) {
            char *s = strdup(argv[++i]);
            for (char *t = strtok(s, ","); t; t = strtok(NULL, ",")) caps[ncaps++] = atoi(t);
        }
        else if (!strcmp(argv[i], "--nnp")) nnp = 1;
        else if (!strcmp(argv[i], "--block-signals")) block = 1;
        else if (!strcmp(argv[i], "--close-stdio")) closestd = 1;
        else if (!strcmp(argv[i], "--extra-fd")) extra = 1;
        else if (!strcmp(argv[i], "--core-limit")) core = 1;
        else if (!strcmp(argv[i], "--deny-sendto")) deny = 1;
        else { fprintf(stderr, "ch-launch: unknown option %s\n", argv[i]); return 64; }
    }
    if (i + 1 >= argc) return 64;
    if (deny) {
        struct sock_filter code[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_sendto, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { sizeof code / sizeof code[0], code };
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) { perror("ch-launch: seccomp"); return 1; }
    }
    if (core) { struct rlimit r = { RLIM_INFINITY, RLIM_INFINITY }; setrlimit(RLIMIT_CORE, &r); }
    if (uid >= 0) {
        gid_t g = (gid_t)gid;
        prctl(PR_SET_KEEPCAPS, 1);
        if (setgroups(1, &g) || setresgid(g, g, g) || setresuid(uid, uid, uid)) { perror("ch-launch: set ids"); return 1; }
    }
    if (ncaps || uid >= 0) {
        cap_t c = cap_init();
        if (ncaps) {
            cap_set_flag(c, CAP_PERMITTED, ncaps, caps, CAP_SET);
            cap_set_flag(c, CAP_INHERITABLE, ncaps, caps, CAP_SET);
            cap_set_flag(c, CAP_EFFECTIVE, ncaps, caps, CAP_SET);
        }
        if (cap_set_proc(c)) { perror("ch-launch: capset"); return 1; }
        for (int k = 0; k < ncaps; k++) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, caps[k], 0, 0);
    }
    if (nnp) prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (extra) { int fd = open("/etc/hostname", O_RDONLY); if (fd >= 0 && fd != 7) { dup2(fd, 7); close(fd); } }
    if (block) {
        sigset_t all; sigfillset(&all); sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGTERM, SIG_IGN); signal(SIGINT, SIG_IGN); signal(SIGCHLD, SIG_IGN);
    }
    if (closestd) { close(0); close(1); close(2); }
    execvp(argv[i + 1], argv + i + 1);
    return 127;
}
