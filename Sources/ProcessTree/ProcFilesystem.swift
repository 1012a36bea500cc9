import LinuxSystem

/// Something that keeps one process identifiable while it is examined.
public protocol ProcessPin: AnyObject {
    /// True while the pinned process has not been reaped.
    var isAlive: Bool { get }
    func send(_ signal: Int32) throws(SystemError)
}

/// A pidfd as a `ProcessPin`. A class, so that pins can live in arrays
/// (arrays of non-copyable values are not available yet); the pidfd inside
/// is still owned and closed exactly once.
public final class PidfdPin: ProcessPin {
    let pidfd: PidFD
    public init(pid: Int32) throws(SystemError) { pidfd = try PidFD(pid: pid) }
    public var isAlive: Bool { pidfd.isAlive }
    public func send(_ signal: Int32) throws(SystemError) { try pidfd.send(signal) }
}

/// Identity of a namespace: the device and inode of its nsfs file.
public struct NamespaceID: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64
    public init(device: UInt64, inode: UInt64) { self.device = device; self.inode = inode }
    public var description: String { "\(inode)" }
}

/// The /proc the checks read, and how they pin a process. In production:
/// /proc and pidfds. In unit tests: a fixture directory and pins that never
/// die (the seam swift-system calls "mocking the syscalls").
public final class ProcFilesystem {
    let root: FileDescriptor
    let pinner: (Int32) throws(SystemError) -> any ProcessPin

    public init(root: consuming FileDescriptor, pinner: @escaping (Int32) throws(SystemError) -> any ProcessPin) {
        self.root = root
        self.pinner = pinner
    }

    /// The real /proc, processes pinned with pidfds.
    public static func system() throws(SystemError) -> ProcFilesystem {
        let root = try FileDescriptor.open("/proc", [.directory, .noFollow], resolve: [.noSymlinks])
        return ProcFilesystem(root: root) { (pid: Int32) throws(SystemError) -> any ProcessPin in try PidfdPin(pid: pid) }
    }

    /// Opens /proc/NAME/PATH for reading, without following symbolic links
    /// other than the magic ones /proc itself needs.
    public func read(_ path: String, limit: Int = 1 << 20) throws(SystemError) -> String {
        let fd = try root.open(path, .readOnly, resolve: [.beneath, .noSymlinks])
        return String(decoding: try fd.readAll(limit: limit), as: UTF8.self)
    }

    func openDirectory(_ path: String) throws(SystemError) -> FileDescriptor {
        try root.open(path, [.directory, .noFollow], resolve: [.beneath, .noSymlinks])
    }

    /// The namespace of `kind` ("user", "pid") that process `name` ("1234",
    /// "1234/task/1235") is in. ns/* are magic links, so no resolve
    /// restriction applies; the path is built from numbers only.
    public func namespace(_ kind: String, of name: String) throws(SystemError) -> NamespaceID {
        let fd = try root.open("\(name)/ns/\(kind)", .readOnly)
        let st = try fd.status()
        return NamespaceID(device: st.device, inode: st.inode)
    }

    /// readlink /proc/PID/exe (nil when unreadable, e.g. not dumpable).
    /// The program `pid` runs, as its exe link names it. A program file
    /// replaced since (an upgrade renames a new file over it) is named with
    /// " (deleted)" appended by the kernel; that suffix is taken off, so a job
    /// started before an upgrade is still recognised by the path it ran from.
    /// (Only root can create files in the helper's directory, so no other
    /// file can be named like that.)
    public func executable(of pid: Int32) -> String? {
        guard let link = root.readLink("\(pid)/exe") else { return nil }
        let deleted = " (deleted)"
        return link.hasSuffix(deleted) ? String(link.dropLast(deleted.count)) : link
    }

    /// Children of every thread of process `pid`, as this /proc numbers them.
    public func children(of pid: Int32) -> [Int32] {
        guard let dir = try? openDirectory("\(pid)/task"), let tids = try? dir.entries() else { return [] }
        var result: [Int32] = []
        for tid in tids {
            guard let text = try? read("\(pid)/task/\(tid)/children") else { continue }
            result += text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int32($0) }
        }
        return result
    }

    /// The helper and every ancestor up to init: processes a tree to be
    /// dumped must not contain (criu would freeze the helper itself).
    public func ancestry(of pid: Int32) -> Set<Int32> {
        var result: Set<Int32> = []
        var current = pid
        while current > 0, !result.contains(current), result.count < 4096 {
            result.insert(current)
            guard let text = try? read("\(current)/status"), let status = try? TaskStatus.parse(text) else { break }
            current = status.ppid
        }
        return result
    }
}
