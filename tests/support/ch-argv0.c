// ch-argv0 PROGRAM: executes PROGRAM with argc == 0 (an empty argv).
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2) return 64;
    char *none[] = { NULL };
    char *env[] = { "PATH=/usr/bin:/bin", NULL };
    execve(argv[1], none, env);
    return 127;
}
