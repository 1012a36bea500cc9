#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "CSystem.h"

const int chs_O_PATH = O_PATH;

ssize_t chs_copy_file_range(int from, int to, size_t count)
{
    return copy_file_range(from, NULL, to, NULL, count, 0);
}

int chs_flock(int fd, int op) { return flock(fd, op); }
int chs_getresuid(uid_t *r, uid_t *e, uid_t *s) { return getresuid(r, e, s); }
int chs_getresgid(gid_t *r, gid_t *e, gid_t *s) { return getresgid(r, e, s); }

int chs_abstract_lock(const char *name, int *holder_pid, unsigned *holder_uid)
{
    struct sockaddr_un addr;
    size_t len = strlen(name);
    if (len + 1 > sizeof addr.sun_path) { errno = ENAMETOOLONG; return -1; }
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path + 1, name, len);   // abstract: leading NUL
    socklen_t addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (bind(fd, (struct sockaddr *)&addr, addrlen) == 0 && listen(fd, 4) == 0)
        return fd;
    int saved = errno;
    close(fd);
    if (saved != EADDRINUSE) { errno = saved; return -1; }
    // Held: ask the holder who it is (SO_PEERCRED of a connection to it).
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return -1;
    struct ucred cred;
    socklen_t credlen = sizeof cred;
    if (connect(probe, (struct sockaddr *)&addr, addrlen) == 0 &&
        getsockopt(probe, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == 0) {
        *holder_pid = cred.pid;
        *holder_uid = cred.uid;
    } else {
        *holder_pid = 0;
        *holder_uid = (unsigned)-1;
    }
    close(probe);
    errno = EADDRINUSE;
    return -1;
}

int chs_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
