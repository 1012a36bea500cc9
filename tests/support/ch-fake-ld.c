// ch-fake-ld: stands in for an ELF interpreter planted where criu's should
// be. If the kernel ever loads it for a criu that criu-helper started, it
// appends "ran" to /tmp/ch-fake-ld.ran and exits 42. No C library (it runs
// as an interpreter, before anything is set up): raw system calls only.
// Built with -nostdlib -static-pie (tests/fixtures.sh).
static long sys3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}
void _start(void) {
    static const char path[] = "/tmp/ch-fake-ld.ran";
    long fd = sys3(2 /* open */, (long)path, 02 | 0100 | 02000 /* O_RDWR|O_CREAT|O_APPEND */, 0644);
    if (fd >= 0) sys3(1 /* write */, fd, (long)"ran\n", 4);
    sys3(60 /* exit */, 42, 0, 0);
    for (;;) {}
}
