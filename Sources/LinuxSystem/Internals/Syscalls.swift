import CSystem
import Glibc

// The only file of LinuxSystem that calls C. Every wrapper retries on EINTR
// where the call is restartable and returns the raw result; the typed API in
// the other files turns failures into `SystemError`.

@inline(__always)
func retryingOnInterrupt<T: BinaryInteger>(_ body: () -> T) -> T {
    while true {
        let result = body()
        if result >= 0 || Glibc.errno != EINTR { return result }
    }
}

func sys_openat2(_ dir: Int32, _ path: String, _ flags: Int32, _ mode: mode_t, _ resolve: UInt64) -> Int32 {
    retryingOnInterrupt { chs_openat2(dir, path, UInt64(UInt32(bitPattern: flags)), UInt64(mode), resolve) }
}
func sys_close(_ fd: Int32) { _ = Glibc.close(fd) }
func sys_fstat(_ fd: Int32, _ st: inout stat) -> Int32 { Glibc.fstat(fd, &st) }
func sys_fstatat(_ dir: Int32, _ path: String, _ st: inout stat, _ flags: Int32) -> Int32 {
    Glibc.fstatat(dir, path, &st, flags)
}
func sys_read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
    retryingOnInterrupt { Glibc.read(fd, buffer.baseAddress, buffer.count) }
}
func sys_pread(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) -> Int {
    retryingOnInterrupt { Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(offset)) }
}
func sys_write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int {
    retryingOnInterrupt { Glibc.write(fd, buffer.baseAddress, buffer.count) }
}
func sys_mkdirat(_ dir: Int32, _ path: String, _ mode: mode_t) -> Int32 { Glibc.mkdirat(dir, path, mode) }
func sys_unlinkat(_ dir: Int32, _ path: String, _ flags: Int32) -> Int32 { Glibc.unlinkat(dir, path, flags) }
func sys_renameat(_ fromDir: Int32, _ from: String, _ toDir: Int32, _ to: String) -> Int32 {
    Glibc.renameat(fromDir, from, toDir, to)
}
func sys_readlinkat(_ dir: Int32, _ path: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 4097)
    let n = Glibc.readlinkat(dir, path, &buffer, 4096)
    guard n >= 0 else { return nil }
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
func sys_symlinkat(_ target: String, _ dir: Int32, _ name: String) -> Int32 { Glibc.symlinkat(target, dir, name) }
func sys_flock(_ fd: Int32, _ operation: Int32) -> Int32 { retryingOnInterrupt { chs_flock(fd, operation) } }
func sys_fsync(_ fd: Int32) -> Int32 { Glibc.fsync(fd) }
func sys_dup(_ fd: Int32) -> Int32 { chs_fcntl_int(fd, F_DUPFD_CLOEXEC, 3) }
func sys_ftruncate(_ fd: Int32, _ size: Int64) -> Int32 { Glibc.ftruncate(fd, off_t(size)) }
func sys_copy_file_range(_ from: Int32, _ to: Int32, _ count: Int) -> Int {
    retryingOnInterrupt { chs_copy_file_range(from, to, count) }
}

/// Names in a directory, except "." and "..". Works on a duplicate, so the
/// caller's descriptor keeps its offset.
func sys_listDirectory(_ fd: Int32) -> [String]? {
    let copy = Glibc.openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard copy >= 0, let dir = Glibc.fdopendir(copy) else {
        return nil
    }
    defer { Glibc.closedir(dir) }
    var names: [String] = []
    Glibc.errno = 0
    while let entry = Glibc.readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return Glibc.errno == 0 ? names : nil
}

func sys_pidfd_open(_ pid: pid_t) -> Int32 { chs_pidfd_open(pid, 0) }
func sys_pidfd_send_signal(_ pidfd: Int32, _ signal: Int32) -> Int32 { chs_pidfd_send_signal(pidfd, signal) }
func sys_kill(_ pid: pid_t, _ signal: Int32) -> Int32 { Glibc.kill(pid, signal) }
func sys_waitpid(_ pid: pid_t, _ status: inout Int32, _ options: Int32) -> pid_t {
    retryingOnInterrupt { Glibc.waitpid(pid, &status, options) }
}
func sys_getpid() -> pid_t { Glibc.getpid() }
func sys_getresuid() -> (UInt32, UInt32, UInt32) {
    var r: uid_t = 0, e: uid_t = 0, s: uid_t = 0
    _ = chs_getresuid(&r, &e, &s)
    return (r, e, s)
}
func sys_getresgid() -> (UInt32, UInt32, UInt32) {
    var r: gid_t = 0, e: gid_t = 0, s: gid_t = 0
    _ = chs_getresgid(&r, &e, &s)
    return (r, e, s)
}
func sys_getgroups() -> [UInt32] {
    let count = Glibc.getgroups(0, nil)
    guard count > 0 else { return [] }
    var groups = [gid_t](repeating: 0, count: Int(count))
    let n = Glibc.getgroups(count, &groups)
    return n > 0 ? Array(groups[0..<Int(n)]) : []
}
func sys_set_no_new_privs() -> Int32 { chs_set_no_new_privs() }
func sys_get_no_new_privs() -> Int32 { chs_get_no_new_privs() }
func sys_set_not_dumpable() -> Int32 { chs_set_not_dumpable() }
func sys_reset_signals() -> Int32 { chs_reset_signals() }
func sys_fsopen(_ name: String) -> Int32 { chs_fsopen(name) }
func sys_fsconfig(_ fd: Int32, _ key: String, _ value: String) -> Int32 { chs_fsconfig_string(fd, key, value) }
func sys_fsconfig_create(_ fd: Int32) -> Int32 { chs_fsconfig_create(fd) }
func sys_fsmount(_ fd: Int32) -> Int32 { chs_fsmount(fd) }

func sys_spawn(_ child: inout chs_child, _ failure: inout chs_failure) -> pid_t { chs_spawn(&child, &failure) }
func sys_reaper_clone(_ start: inout chs_reaper_start) -> pid_t { chs_reaper_clone(&start) }
func sys_supervisor_fork(_ start: inout chs_supervisor_start) -> pid_t { chs_supervisor_fork(&start) }
func sys_criu_left_in_task(_ proc: Int32, _ pid: Int32) -> Int32 { chs_criu_left_in_task(proc, pid) }
func sys_ns_type(_ fd: Int32) -> Int32 { chs_ns_type(fd) }
func sys_ns_owner(_ fd: Int32) -> Int32 { chs_ns_owner(fd) }
func sys_has_file_capabilities(_ fd: Int32) -> Int32 { chs_has_file_capabilities(fd) }
func sys_fstatfs_type(_ fd: Int32) -> UInt64? {
    var type: UInt64 = 0
    guard chs_fstatfs_type(fd, &type) == 0 else { return nil }
    return type
}
func sys_poll_readable(_ fd: Int32, _ milliseconds: Int) -> Bool {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    while true {
        let n = Glibc.poll(&entry, 1, Int32(clamping: milliseconds))
        if n < 0 && Glibc.errno == EINTR { continue }
        return n > 0
    }
}
func sys_wexitstatus(_ s: Int32) -> Int32 { chs_wexitstatus(s) }
func sys_wifsignaled(_ s: Int32) -> Bool { chs_wifsignaled(s) != 0 }
func sys_wtermsig(_ s: Int32) -> Int32 { chs_wtermsig(s) }
func sys_clock_monotonic_ns() -> UInt64 {
    var ts = timespec()
    _ = Glibc.clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
func sys_time_now() -> (seconds: Int, nanoseconds: Int) {
    var ts = timespec()
    _ = Glibc.clock_gettime(CLOCK_REALTIME, &ts)
    return (ts.tv_sec, ts.tv_nsec)
}
func sys_utc_timestamp(_ seconds: Int) -> String {
    var t = time_t(seconds)
    var parts = tm()
    _ = Glibc.gmtime_r(&t, &parts)
    var buffer = [CChar](repeating: 0, count: 32)
    let n = Glibc.strftime(&buffer, 32, "%Y-%m-%dT%H:%M:%SZ", &parts)
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
func sys_nanosleep(_ nanoseconds: UInt64) {
    var ts = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    var rest = timespec()
    while Glibc.nanosleep(&ts, &rest) != 0 && Glibc.errno == EINTR { ts = rest }
}
func sys_write_stderr(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 { if Glibc.errno == EINTR { continue } else { return } }
            offset += n
        }
    }
}
func sys_write_stdout(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(1, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 { if Glibc.errno == EINTR { continue } else { return } }
            offset += n
        }
    }
}
func sys_exit(_ code: Int32) -> Never { Glibc.exit(code) }

func sys_pipe() -> (read: Int32, write: Int32)? {
    var fds: [Int32] = [-1, -1]
    guard chs_pipe_cloexec(&fds) == 0 else { return nil }
    return (fds[0], fds[1])
}
func sys_wait_forwarding(_ child: Int32, _ target: Int32, _ timeout: Int) -> Int32? {
    var status: Int32 = 0
    return chs_wait_forwarding(child, target, timeout, &status) == 1 ? status : nil
}

func sys_uname_release() -> String {
    var names = utsname()
    guard Glibc.uname(&names) == 0 else { return "?" }
    return withUnsafePointer(to: &names.release) {
        $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) }
    }
}
