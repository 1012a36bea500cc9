// ch-state PORT: a job holding the kinds of state criu-helper checkpoints
// since criu 4.2: a TCP listener and a UDP socket on 127.0.0.1:PORT, a pidfd
// of a child of its own, and an flock on ./ch-state.lock (relative to its
// working directory). Prints "ready" once all are set up, then once a second
// "tick N child=alive|gone", and "accepted" for each TCP connection, "udp
// TEXT" for each datagram. Flushed lines: the test reads its output file.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int bound(int type, int port) {
    int fd = socket(AF_INET, type, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("bind"); exit(1); }
    return fd;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: ch-state PORT\n"); return 2; }
    int port = atoi(argv[1]);
    int tcp = bound(SOCK_STREAM, port), udp = bound(SOCK_DGRAM, port);
    if (listen(tcp, 8) != 0) { perror("listen"); return 1; }
    pid_t child = fork();
    if (child == 0) { for (;;) pause(); }
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    if (pidfd < 0) { perror("pidfd_open"); return 1; }
    int lock = open("ch-state.lock", O_RDWR | O_CREAT, 0600);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) != 0) { perror("flock"); return 1; }
    printf("ready\n");
    fflush(stdout);
    for (unsigned long n = 0;; n++) {
        struct pollfd p[2] = {{.fd = tcp, .events = POLLIN}, {.fd = udp, .events = POLLIN}};
        if (poll(p, 2, 1000) > 0) {
            if (p[0].revents & POLLIN) {
                int c = accept(tcp, NULL, NULL);
                if (c >= 0) { printf("accepted\n"); close(c); }
            }
            if (p[1].revents & POLLIN) {
                char buf[64];
                ssize_t got = recv(udp, buf, sizeof buf - 1, 0);
                if (got > 0) { buf[got] = 0; buf[strcspn(buf, "\n")] = 0; printf("udp %s\n", buf); }
            }
        }
        int alive = syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
        printf("tick %lu child=%s\n", n, alive ? "alive" : "gone");
        fflush(stdout);
    }
}
