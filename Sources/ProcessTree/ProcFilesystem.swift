import Glibc
import LinuxSystem

/// Something that keeps one process identifiable while it is examined.
public protocol ProcessPin: AnyObject {
    /// True while the pinned process has not been reaped.
    var isAlive: Bool { get }
    func send(_ signal: Signal) throws(SystemError)
}

/// A pidfd as a `ProcessPin`. A class, so that pins can live in arrays
/// (arrays of non-copyable values are not available yet); the pidfd inside
/// is still owned and closed exactly once.
public final class PidfdPin: ProcessPin {
    public let pidfd: PidFD
    public init(pid: Int32) throws(SystemError) { pidfd = try PidFD(pid: pid) }
    public var isAlive: Bool { pidfd.isAlive }
    public func send(_ signal: Signal) throws(SystemError) { try pidfd.send(signal) }
}

/// The /proc the checks read, and how they pin a process. In production:
/// /proc and pidfds. In unit tests: a fixture directory and pins that never
/// die (the seam swift-system calls "mocking the syscalls").
public final class ProcFilesystem {
    public let root: FileDescriptor
    let pinner: (Int32) throws(SystemError) -> any ProcessPin
    /// One buffer for every read: the tree check reads thousands of files.
    var buffer = [UInt8](repeating: 0, count: 1 << 16)

    public init(root: consuming FileDescriptor, pinner: @escaping (Int32) throws(SystemError) -> any ProcessPin) {
        self.root = root
        self.pinner = pinner
    }

    /// The real /proc, processes pinned with pidfds.
    public static func system() throws(SystemError) -> ProcFilesystem {
        let root = try FileDescriptor.open("/proc", [.directory, .noFollow], resolve: [.noSymlinks])
        return ProcFilesystem(root: root) { (pid: Int32) throws(SystemError) -> any ProcessPin in try PidfdPin(pid: pid) }
    }

    public func pin(_ pid: Int32) throws(SystemError) -> any ProcessPin { try pinner(pid) }

    /// Opens /proc/PATH for reading, never through a symbolic link.
    public func read(_ path: String, limit: Int = 1 << 20) throws(SystemError) -> String {
        let fd = try root.open(path, .readOnly, resolve: [.beneath, .noSymlinks])
        return String(decoding: try fd.readAll(limit: limit), as: UTF8.self)
    }

    /// Reads /proc/PATH as a stream of lines (without their newline), never
    /// through a symbolic link; fails with EFBIG past `limit` bytes, and
    /// with ETIME once a read ends after `deadline` (monotonic nanoseconds).
    public func lines(_ path: String, limit: Int, until deadline: UInt64? = nil,
                      _ body: (Substring) -> Void) throws(SystemError) {
        let fd = try root.open(path, .readOnly, resolve: [.beneath, .noSymlinks])
        var pending: [UInt8] = []
        var total = 0
        while true {
            // Large reads: a seq_file such as /proc/locks walks its list
            // from the start again at every read(2), so small ones make a
            // long table quadratic (213,000 locks took 148 s in 64 KiB reads here).
            let chunk = try fd.readSome(1 << 20)
            if chunk.isEmpty { break }
            total += chunk.count
            if total > limit { throw SystemError("read", errno: Errno(EFBIG)) }
            if let deadline, Kernel.monotonicNanoseconds > deadline { throw SystemError("read", errno: Errno(ETIME)) }
            pending += chunk
            guard let last = pending.lastIndex(of: 0x0A) else { continue }
            for line in String(decoding: pending[...last], as: UTF8.self).split(separator: "\n") { body(line) }
            pending.removeSubrange(...last)
        }
        if !pending.isEmpty { body(Substring(String(decoding: pending, as: UTF8.self))) }
    }

    /// /proc/PATH/status ("1234", "1234/task/1235"), parsed.
    public func status(_ path: String) throws(any Error) -> TaskStatus {
        try parseStatus(try root.open(path + "/status", .readOnly, resolve: [.beneath, .noSymlinks]))
    }

    /// /proc/NAME ("1234", "1234/task/1235") opened once, so that the files
    /// of one task are reached with one walk from /proc (the tree check
    /// reads five of them per task). The descriptor keeps naming that task:
    /// once it is reaped, every file under it fails with ESRCH, never
    /// opens a successor's.
    public func openTask(_ name: String) throws(SystemError) -> FileDescriptor { try openDirectory(name) }

    /// The status file of a task opened with `openTask`, parsed.
    public func status(in task: borrowing FileDescriptor) throws(any Error) -> TaskStatus {
        try parseStatus(try task.open("status", .readOnly, resolve: [.beneath, .noSymlinks]))
    }

    /// The namespace of `kind` that a task opened with `openTask` is in.
    public func namespace(_ kind: NamespaceFile.Kind, in task: borrowing FileDescriptor) throws(SystemError) -> NamespaceID {
        let st = try task.statusFollowing("ns/\(kind.procName)")
        return NamespaceID(device: st.device, inode: st.inode)
    }

    /// The whole of a /proc file, into the shared buffer; its length.
    private func readWhole(_ fd: borrowing FileDescriptor) throws(SystemError) -> Int {
        let result = buffer.withUnsafeMutableBytes { (raw) -> Result<Int, SystemError> in
            do throws(SystemError) { return .success(try fd.readWhole(into: raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private func parseStatus(_ fd: consuming FileDescriptor) throws(any Error) -> TaskStatus {
        let count = try buffer.withUnsafeMutableBytes { (raw) throws(SystemError) -> Int in try fd.readWhole(into: raw) }
        return try buffer.withUnsafeBufferPointer { (bytes) throws(ProcParseError) -> TaskStatus in
            try TaskStatus.parse(UnsafeBufferPointer(rebasing: bytes[0..<count]))
        }
    }

    func openDirectory(_ path: String) throws(SystemError) -> FileDescriptor {
        try root.open(path, [.directory, .noFollow], resolve: [.beneath, .noSymlinks])
    }

    /// The namespace of `kind` that `name` ("1234", "1234/task/1235") is in:
    /// stat(2) through the ns magic link, one system call. The path is built
    /// from numbers only.
    public func namespace(_ kind: NamespaceFile.Kind, of name: String) throws(SystemError) -> NamespaceID {
        let st = try root.statusFollowing("\(name)/ns/\(kind.procName)")
        return NamespaceID(device: st.device, inode: st.inode)
    }

    /// The namespace itself, opened (to verify and to enter).
    public func openNamespace(_ kind: NamespaceFile.Kind, of name: String) throws(SystemError) -> NamespaceFile {
        try NamespaceFile.open(kind, "\(name)/ns/\(kind.procName)", in: root)
    }

    /// Children of every thread of process `pid`, as this /proc numbers them.
    /// `threads`: the thread ids when known (saves listing the task directory).
    /// A process or thread that is gone has none; any other failure (a
    /// descriptor limit the caller lowered, say) is an error, never an
    /// empty list: the checks must not skip a subtree they could not read.
    public func children(of pid: Int32, threads: [Int32]? = nil) throws(SystemError) -> [Int32] {
        let process: FileDescriptor
        do { process = try openTask("\(pid)") } catch {
            if error.errno == .noSuchFileOrDirectory || error.errno == .noSuchProcess { return [] }
            throw error
        }
        return try children(in: process, threads: threads)
    }

    /// The same, for a process opened with `openTask`.
    public func children(in process: borrowing FileDescriptor, threads: [Int32]? = nil) throws(SystemError) -> [Int32] {
        let tids: [Int32]
        if let threads { tids = threads } else {
            do {
                let dir = try process.open("task", [.directory, .noFollow], resolve: [.beneath, .noSymlinks])
                tids = try dir.entries().compactMap { Int32($0) }
            } catch {
                if error.errno == .noSuchFileOrDirectory || error.errno == .noSuchProcess { return [] }
                throw error
            }
        }
        var result: [Int32] = []
        for tid in tids {
            let count: Int
            do {
                count = try readWhole(try process.open("task/\(tid)/children", .readOnly, resolve: [.beneath, .noSymlinks]))
            } catch {
                if error.errno == .noSuchFileOrDirectory || error.errno == .noSuchProcess { continue }
                throw error
            }
            // PIDs in decimal, each followed by a space (and a final
            // newline). Anything else is an error, never a child skipped.
            var value: Int32 = 0, digits = 0
            for byte in buffer[0..<count] {
                if byte >= 0x30 && byte <= 0x39 && digits < 9 {
                    value = value * 10 + Int32(byte - 0x30)
                    digits += 1
                } else if (byte == 0x20 || byte == 0x0a) && digits > 0 {
                    result.append(value)
                    value = 0
                    digits = 0
                } else if byte != 0x0a {
                    throw SystemError("parse", "task/\(tid)/children", errno: .invalidArgument)
                }
            }
            if digits > 0 { result.append(value) }
        }
        return result
    }

    /// Thread ids of process `pid`, the main thread first.
    public func threads(of pid: Int32) throws(SystemError) -> [Int32] {
        let dir = try openDirectory("\(pid)/task")
        return try dir.entries().compactMap { Int32($0) }.sorted { a, b in a == pid || (b != pid && a < b) }
    }

    /// The helper and every ancestor up to init: processes a tree to be
    /// dumped must not contain (criu would freeze the helper itself).
    public func ancestry(of pid: Int32) -> Set<Int32> {
        var result: Set<Int32> = []
        var current = pid
        while current > 0, !result.contains(current), result.count < 4096 {
            result.insert(current)
            guard let status = try? status(String(current)) else { break }
            current = status.ppid
        }
        return result
    }
}
