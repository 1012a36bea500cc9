import LinuxSystem

/// Opens a file that only root can have put there: every directory from /
/// down, and the file itself, must be owned by root, not writable by group
/// or others, and not a symbolic link (doas: "is writable by group or
/// other", "is not owned by root"). Used for the configuration file and for
/// criu, which the helper runs with capabilities.
public enum TrustedFile {
    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case notAbsolute(String)
        case missing(String)
        case symbolicLink(String)
        case notOwnedByRoot(String, UInt32)
        case writableByOthers(String, UInt32)
        case notRegular(String)
        case unreadable(String, String)

        public var description: String {
            switch self {
            case .notAbsolute(let p): return "\(p) is not an absolute path"
            case .missing(let p): return "\(p) does not exist"
            case .symbolicLink(let p): return "\(p) is a symbolic link (give the real path)"
            case .notOwnedByRoot(let p, let uid): return "\(p) is not owned by root (uid \(uid))"
            case .writableByOthers(let p, let mode): return "\(p) is writable by group or others (mode \(String(mode, radix: 8)))"
            case .notRegular(let p): return "\(p) is not a regular file"
            case .unreadable(let p, let why): return "\(p): \(why)"
            }
        }
    }

    /// Walks `path` component by component and returns the file opened with
    /// `flags` (for example `.pathOnly` to exec it, `.readOnly` to read it).
    public static func open(_ path: String, _ flags: FileDescriptor.OpenFlags) throws(Problem) -> FileDescriptor {
        guard path.hasPrefix("/") else { throw .notAbsolute(path) }
        var current: FileDescriptor
        do { current = try FileDescriptor.open("/", [.directory, .pathOnly]) } catch { throw .unreadable("/", "\(error.errno)") }
        try check(current, path: "/", isLast: false)
        let components = path.split(separator: "/").map(String.init)
        guard !components.isEmpty else { throw .notRegular(path) }
        var walked = ""
        for (index, component) in components.enumerated() {
            walked += "/" + component
            let isLast = index == components.count - 1
            guard component != "." && component != ".." else { throw .notAbsolute(path) }
            do {
                let st = try current.status(of: component)
                if st.isSymbolicLink { throw Problem.symbolicLink(walked) }
                let next = try current.open(component, isLast ? flags.union(.noFollow) : [.directory, .pathOnly, .noFollow],
                                            resolve: [.noSymlinks, .beneath])
                try check(next, path: walked, isLast: isLast)
                current = next
            } catch let problem as Problem {
                throw problem
            } catch let error as SystemError {
                throw error.errno == .noSuchFileOrDirectory ? .missing(walked) : .unreadable(walked, "\(error.errno)")
            } catch {
                throw .unreadable(walked, "\(error)")
            }
        }
        return current
    }

    private static func check(_ fd: borrowing FileDescriptor, path: String, isLast: Bool) throws(Problem) {
        let st: FileStatus
        do { st = try fd.status() } catch { throw .unreadable(path, "\(error.errno)") }
        guard st.owner == 0 else { throw .notOwnedByRoot(path, st.owner) }
        guard !st.isGroupOrWorldWritable else { throw .writableByOthers(path, st.permissions) }
        if isLast { guard st.isRegularFile else { throw .notRegular(path) } }
    }
}
