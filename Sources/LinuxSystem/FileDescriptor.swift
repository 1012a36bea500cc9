import CSystem
import Glibc

/// An open file descriptor that this value owns: closed when the value goes
/// away, so a descriptor cannot leak past the code that opened it.
public struct FileDescriptor: ~Copyable {
    public let rawValue: Int32

    public init(adopting rawValue: Int32) { self.rawValue = rawValue }

    deinit { sys_close(rawValue) }

    /// `open(2)` flags. `O_CLOEXEC` is always added.
    public struct OpenFlags: OptionSet, Sendable {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let readOnly = OpenFlags([])
        /// O_WRONLY
        public static let writeOnly = OpenFlags(rawValue: O_WRONLY)
        /// O_RDWR
        public static let readWrite = OpenFlags(rawValue: O_RDWR)
        /// O_CREAT
        public static let create = OpenFlags(rawValue: O_CREAT)
        /// O_EXCL
        public static let exclusive = OpenFlags(rawValue: O_EXCL)
        /// O_TRUNC
        public static let truncate = OpenFlags(rawValue: O_TRUNC)
        /// O_APPEND
        public static let append = OpenFlags(rawValue: O_APPEND)
        /// O_DIRECTORY
        public static let directory = OpenFlags(rawValue: O_DIRECTORY)
        /// O_NOFOLLOW
        public static let noFollow = OpenFlags(rawValue: O_NOFOLLOW)
        /// O_PATH: a handle for *at calls and execveat, no read or write.
        public static let pathOnly = OpenFlags(rawValue: chs_O_PATH)
        /// O_NONBLOCK
        public static let nonBlocking = OpenFlags(rawValue: O_NONBLOCK)
    }

    /// `openat2(2)` resolve flags.
    public struct Resolve: OptionSet, Sendable {
        public var rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
        /// RESOLVE_NO_SYMLINKS: no component may be a symbolic link (magic links included).
        public static let noSymlinks = Resolve(rawValue: 0x04)
        /// RESOLVE_NO_MAGICLINKS: no /proc/PID/fd-style links.
        public static let noMagicLinks = Resolve(rawValue: 0x02)
        /// RESOLVE_BENEATH: stay below the starting directory.
        public static let beneath = Resolve(rawValue: 0x08)
    }

    /// openat2(2) relative to the current directory.
    public static func open(
        _ path: String, _ flags: OpenFlags, mode: UInt32 = 0, resolve: Resolve = []
    ) throws(SystemError) -> FileDescriptor {
        let fd = sys_openat2(AT_FDCWD, path, flags.rawValue | O_CLOEXEC, mode_t(mode), resolve.rawValue)
        guard fd >= 0 else { throw SystemError("open", path) }
        return FileDescriptor(adopting: fd)
    }

    /// openat2(2) relative to this directory.
    public func open(
        _ path: String, _ flags: OpenFlags, mode: UInt32 = 0, resolve: Resolve = []
    ) throws(SystemError) -> FileDescriptor {
        let fd = sys_openat2(rawValue, path, flags.rawValue | O_CLOEXEC, mode_t(mode), resolve.rawValue)
        guard fd >= 0 else { throw SystemError("open", path) }
        return FileDescriptor(adopting: fd)
    }

    public func duplicate() throws(SystemError) -> FileDescriptor {
        let fd = sys_dup(rawValue)
        guard fd >= 0 else { throw SystemError("dup") }
        return FileDescriptor(adopting: fd)
    }

    public func status() throws(SystemError) -> FileStatus {
        var st = stat()
        guard sys_fstat(rawValue, &st) == 0 else { throw SystemError("fstat") }
        return FileStatus(st)
    }

    /// fstatat(2) of a name in this directory, never following a symbolic link.
    public func status(of name: String) throws(SystemError) -> FileStatus {
        var st = stat()
        guard sys_fstatat(rawValue, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw SystemError("stat", name) }
        return FileStatus(st)
    }

    /// stat(2) of a name in this directory, following a final symbolic (or
    /// magic) link: /proc/PID/ns/KIND gives the namespace itself.
    public func statusFollowing(_ name: String) throws(SystemError) -> FileStatus {
        var st = stat()
        guard sys_fstatat(rawValue, name, &st, 0) == 0 else { throw SystemError("stat", name) }
        return FileStatus(st)
    }

    /// Reads the whole file into `buffer` (from the current offset); the
    /// number of bytes read. Fails with EFBIG when it does not fit.
    public func readWhole(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        var total = 0
        while true {
            guard total < buffer.count else { throw SystemError("read", errno: Errno(EFBIG)) }
            let n = sys_read(rawValue, UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
            if n < 0 { throw SystemError("read") }
            if n == 0 { return total }
            total += n
        }
    }

    /// Names in this directory, without "." and "..".
    public func entries() throws(SystemError) -> [String] {
        guard let names = sys_listDirectory(rawValue) else { throw SystemError("readdir") }
        return names
    }

    /// Reads from the current offset to the end. Fails with EFBIG past `limit` bytes.
    public func readAll(limit: Int) throws(SystemError) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { sys_read(rawValue, $0) }
            if n < 0 { throw SystemError("read") }
            if n == 0 { return result }
            if result.count + n > limit { throw SystemError("read", errno: Errno(EFBIG)) }
            result.append(contentsOf: chunk[0..<n])
        }
    }

    /// One read(2) of at most `count` bytes; empty at end of file.
    public func readSome(_ count: Int) throws(SystemError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { sys_read(rawValue, $0) }
        guard n >= 0 else { throw SystemError("read") }
        buffer.removeLast(count - n)
        return buffer
    }

    /// Reads up to `count` bytes at `offset`.
    public func read(at offset: Int64, count: Int) throws(SystemError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { sys_pread(rawValue, $0, offset) }
        guard n >= 0 else { throw SystemError("read") }
        buffer.removeLast(count - n)
        return buffer
    }

    public func write(_ bytes: [UInt8]) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { sys_write(rawValue, UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            guard n > 0 else { throw SystemError("write") }
            offset += n
        }
    }

    public func write(_ text: String) throws(SystemError) { try write(Array(text.utf8)) }

    /// Copies everything from `source`'s offset to its end into this file.
    /// Returns the number of bytes copied.
    @discardableResult
    public func copyContents(from source: borrowing FileDescriptor) throws(SystemError) -> Int64 {
        var total: Int64 = 0
        while true {
            let n = sys_copy_file_range(source.rawValue, rawValue, 1 << 30)
            if n < 0 {
                let e = Errno.current
                // Different file systems on old kernels: fall back to read/write.
                if e == .crossDevice || e == Errno(ENOSYS) || e == .invalidArgument {
                    return total + (try copyByReading(from: source))
                }
                throw SystemError("copy_file_range", errno: e)
            }
            if n == 0 { return total }
            total += Int64(n)
        }
    }

    private func copyByReading(from source: borrowing FileDescriptor) throws(SystemError) -> Int64 {
        var total: Int64 = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { sys_read(source.rawValue, $0) }
            if n < 0 { throw SystemError("read") }
            if n == 0 { return total }
            try write(Array(chunk[0..<n]))
            total += Int64(n)
        }
    }

    public func makeDirectory(_ name: String, mode: UInt32 = 0o700) throws(SystemError) {
        guard sys_mkdirat(rawValue, name, mode_t(mode)) == 0 else { throw SystemError("mkdir", name) }
    }

    public func removeFile(_ name: String) throws(SystemError) {
        guard sys_unlinkat(rawValue, name, 0) == 0 else { throw SystemError("unlink", name) }
    }

    public func removeDirectory(_ name: String) throws(SystemError) {
        guard sys_unlinkat(rawValue, name, AT_REMOVEDIR) == 0 else { throw SystemError("rmdir", name) }
    }

    /// Removes `name` and, if it is a directory, everything below it. Never
    /// follows a symbolic link: a link is removed, not what it points to.
    public func removeTree(_ name: String) throws(SystemError) {
        let st = try status(of: name)
        guard st.isDirectory else { return try removeFile(name) }
        do {
            let dir = try open(name, [.directory, .noFollow], resolve: [.noSymlinks, .beneath])
            for entry in try dir.entries() { try dir.removeTree(entry) }
        }
        try removeDirectory(name)
    }

    public func rename(_ from: String, to: String) throws(SystemError) {
        guard sys_renameat(rawValue, from, rawValue, to) == 0 else { throw SystemError("rename", "\(from) to \(to)") }
    }

    public func readLink(_ name: String) -> String? { sys_readlinkat(rawValue, name) }

    /// Creates a symbolic link `name` in this directory pointing to `target`.
    public func makeSymbolicLink(_ name: String, to target: String) throws(SystemError) {
        guard sys_symlinkat(target, rawValue, name) == 0 else { throw SystemError("symlink", name) }
    }

    /// The path the kernel knows this descriptor by (readlink /proc/self/fd/N).
    public func currentPath() -> String? {
        guard let proc = try? FileDescriptor.open("/proc/self/fd", [.directory]) else { return nil }
        return proc.readLink(String(rawValue))
    }

    /// flock(LOCK_EX | LOCK_NB): true when this descriptor now holds the lock.
    public func tryLockExclusive() throws(SystemError) -> Bool {
        if sys_flock(rawValue, LOCK_EX | LOCK_NB) == 0 { return true }
        if Errno.current == .wouldBlock { return false }
        throw SystemError("flock")
    }

    /// flock(LOCK_UN)
    public func unlock() { _ = sys_flock(rawValue, LOCK_UN) }

    public func sync() { _ = sys_fsync(rawValue) }

    /// poll(2) for input, at most `milliseconds` (negative: forever). True
    /// when there is something to read (or the other end is gone).
    public func waitReadable(milliseconds: Int) -> Bool {
        sys_poll_readable(rawValue, milliseconds)
    }

    /// fstatfs(2): the file system's magic number (statfs(2) f_type).
    public func fileSystemType() throws(SystemError) -> FileSystemType {
        guard let type = sys_fstatfs_type(rawValue) else { throw SystemError("fstatfs") }
        return FileSystemType(rawValue: type)
    }

    /// Whether the file carries file capabilities (a security.capability attribute).
    public func hasFileCapabilities() throws(SystemError) -> Bool {
        let r = sys_has_file_capabilities(rawValue)
        guard r >= 0 else { throw SystemError("getxattr security.capability") }
        return r == 1
    }

    public func truncate(to size: Int64) throws(SystemError) {
        guard sys_ftruncate(rawValue, size) == 0 else { throw SystemError("ftruncate") }
    }
}

/// Both ends of a pipe (O_CLOEXEC).
public struct Pipe: ~Copyable {
    public var read: FileDescriptor
    public var write: FileDescriptor

    /// Closes the write end (after a child got it) and keeps the read end.
    public consuming func readEnd() -> FileDescriptor {
        let r = read
        _ = write
        return r
    }

    /// Closes the read end (after a child got it) and keeps the write end.
    public consuming func writeEnd() -> FileDescriptor {
        let w = write
        _ = read
        return w
    }
}

extension FileDescriptor {
    public static func makePipe() throws(SystemError) -> Pipe {
        guard let fds = sys_pipe() else { throw SystemError("pipe") }
        return Pipe(read: FileDescriptor(adopting: fds.read), write: FileDescriptor(adopting: fds.write))
    }
}
