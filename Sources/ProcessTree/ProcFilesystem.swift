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

    /// /proc/PATH/status ("1234", "1234/task/1235"), parsed.
    public func status(_ path: String) throws(any Error) -> TaskStatus {
        let fd = try root.open(path + "/status", .readOnly, resolve: [.beneath, .noSymlinks])
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
        let tids: [Int32]
        if let threads { tids = threads } else {
            do { tids = try openDirectory("\(pid)/task").entries().compactMap { Int32($0) } } catch {
                if error.errno == .noSuchFileOrDirectory || error.errno == .noSuchProcess { return [] }
                throw error
            }
        }
        var result: [Int32] = []
        for tid in tids {
            let text: String
            do { text = try read("\(pid)/task/\(tid)/children") } catch {
                if error.errno == .noSuchFileOrDirectory || error.errno == .noSuchProcess { continue }
                throw error
            }
            result += text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int32($0) }
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
