// ch-squat NAME [PATH...]: what another user can do to a caller's locks:
// binds the abstract unix socket NAME with listen(fd, 0) and fills its
// backlog with one non-blocking connect (a blocking connect() to it would
// hang forever), and takes flock(2) on every PATH it can open. Prints what
// it got, then sleeps until killed.
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2) return 64;
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t len = strlen(argv[1]);
    memcpy(addr.sun_path + 1, argv[1], len);
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s >= 0 && bind(s, (struct sockaddr *)&addr, alen) == 0 && listen(s, 0) == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(c, (struct sockaddr *)&addr, alen);
        printf("squatted @%s\n", argv[1]);
    }
    for (int i = 2; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) { printf("cannot open %s\n", argv[i]); continue; }
        printf(flock(fd, LOCK_EX | LOCK_NB) == 0 ? "locked %s\n" : "not locked %s\n", argv[i]);
    }
    fflush(stdout);
    for (;;) pause();
}
