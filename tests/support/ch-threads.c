// ch-threads UID: started as root; the main thread becomes UID (raw
// setresuid, this thread only) while a second thread stays root, then the
// process sleeps: a tree whose threads do not all belong to one user.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
static void *idle(void *arg) { (void)arg; for (;;) pause(); return NULL; }
int main(int argc, char **argv) {
    if (argc < 2) return 64;
    uid_t uid = (uid_t)atoi(argv[1]);
    pthread_t t;
    pthread_create(&t, NULL, idle, NULL);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    syscall(SYS_setresgid, uid, uid, uid);
    syscall(SYS_setresuid, uid, uid, uid);
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    for (;;) pause();
}
