import LinuxSystem

/// Which file paths an image may name. criu opens them for the restored
/// tasks while it holds its capability, so the rule is: only what the caller
/// could open with their own credentials, decided by what the path is, never
/// by how it is spelled.
///
/// 1. Canonical form first (`canonical`): absolute, no empty component
///    (`//proc`), no `.` or `..`, no trailing `/`, no NUL. criu records the
///    kernel's own d_path() names, which are all canonical; anything else was
///    written by hand and is refused before any other rule looks at it.
/// 2. Then the spelled rules (`check`): not /proc or /sys, nothing in /dev
///    but a few harmless devices and /dev/shm.
/// 3. Then, on the live system (`checkLive`), as the caller: the path must not
///    go through a symbolic link (d_path() names never do), nor reach a
///    kernel interface (procfs, sysfs, devpts, ...) or a device other than
///    /dev/null and its kin; an executable must not be set-user-ID,
///    set-group-ID or carry file capabilities.
/// The post-restore check then looks at every descriptor criu really gave a
/// restored task (RestoredTree), against a path swapped after step 3.
public enum PathPolicy {
    static let allowedDevices: Set<String> = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]

    /// Refuses a path that is not in canonical form.
    public static func canonical(_ path: String, what: String) throws(ImageError) {
        guard path.hasPrefix("/") else { throw .forbidden(file: "", "\(what) path is not absolute: \(quoted(path))") }
        guard !path.utf8.contains(0) else { throw .forbidden(file: "", "\(what) path holds a NUL byte") }
        guard path.utf8.count < 4096 else { throw .forbidden(file: "", "\(what) path is longer than PATH_MAX") }
        if path == "/" { return }
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for c in components {
            if c.isEmpty { throw .forbidden(file: "", "\(what) path is not canonical (an empty component): \(quoted(path))") }
            if c == "." || c == ".." { throw .forbidden(file: "", "\(what) path has a '\(c)' component: \(quoted(path))") }
        }
    }

    /// Canonical form, then the spelled rules.
    public static func check(_ path: String, what: String) throws(ImageError) {
        try canonical(path, what: what)
        if path == "/proc" || path.hasPrefix("/proc/") {
            throw .forbidden(file: "", "\(what) path is in /proc: \(quoted(path))")
        }
        if path == "/sys" || path.hasPrefix("/sys/") {
            throw .forbidden(file: "", "\(what) path is in /sys: \(quoted(path))")
        }
        if path == "/dev" || path.hasPrefix("/dev/") {
            let inShm = path.hasPrefix("/dev/shm/")
            guard allowedDevices.contains(path) || inShm else {
                throw .forbidden(file: "", "\(what) path is a device or in /dev: \(quoted(path))")
            }
        }
    }

    /// The path of a terminal criu opens: a pseudo-terminal master
    /// (/dev/ptmx, /dev/pts/ptmx: a new terminal each time), a slave
    /// (/dev/pts/N, N as the kernel writes it) or the task's controlling
    /// terminal (/dev/tty). TerminalTable ties each to what tty-info.img says.
    public static func checkTerminal(_ path: String, what: String) throws(ImageError) {
        try canonical(path, what: what)
        if ["/dev/ptmx", "/dev/pts/ptmx", "/dev/tty"].contains(path) { return }
        if terminalIndex(path) != nil { return }
        throw .forbidden(file: "", "\(what) path is not a pseudo-terminal (/dev/ptmx, /dev/pts/N) or /dev/tty: \(quoted(path))")
    }

    /// N of /dev/pts/N, written as the kernel writes it (no sign, no leading zero).
    public static func terminalIndex(_ path: String) -> Int? {
        guard path.hasPrefix("/dev/pts/") else { return nil }
        let digits = path.utf8.dropFirst(9)
        guard !digits.isEmpty, digits.count <= 7, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              digits.count == 1 || digits.first != 0x30 else { return nil }
        return Int(String(decoding: digits, as: UTF8.self))
    }

    /// What a path is on the live system, as the caller reaches it.
    public enum LiveFile: Sendable, Equatable {
        /// Nothing there (criu will fail to open it, or recreates it).
        case missing
        /// A component is a symbolic link.
        case throughSymbolicLink
        case found(FileStatus, FileSystemType, fileCapabilities: Bool)
        case unreachable(Errno)
    }

    /// Looks a path up on the live system; the helper's points at the real
    /// file system with the caller's credentials, unit tests at a table.
    public typealias Inspector = (String) -> LiveFile

    public enum Use: Sendable { case opened, executable, directory }

    /// The live rules of step 3.
    public static func checkLive(_ path: String, what: String, use: Use, inspector: Inspector) throws(ImageError) {
        switch inspector(path) {
        case .missing, .unreachable:
            return
        case .throughSymbolicLink:
            throw .forbidden(file: "", "\(what) path goes through a symbolic link: \(quoted(path))")
        case .found(let st, let type, let fileCapabilities):
            if FileSystemType.kernelInterfaces.contains(type) {
                throw .forbidden(file: "", "\(what) path is on \(type): \(quoted(path))")
            }
            if st.isDevice && !st.isHarmlessDevice {
                throw .forbidden(file: "", "\(what) path is a device: \(quoted(path))")
            }
            if use == .executable {
                guard st.isRegularFile else { throw .forbidden(file: "", "\(what) is \(st.kindDescription): \(quoted(path))") }
                if st.changesIdentity { throw .forbidden(file: "", "\(what) is set-user-ID or set-group-ID: \(quoted(path))") }
                if fileCapabilities { throw .forbidden(file: "", "\(what) has file capabilities: \(quoted(path))") }
            }
            if use == .directory && !st.isDirectory {
                throw .forbidden(file: "", "\(what) is \(st.kindDescription), not a directory: \(quoted(path))")
            }
        }
    }

    /// A caller value for a message: at most 200 characters, printable ASCII.
    public static func quoted(_ s: String) -> String {
        let shown = s.count > 200 ? String(s.prefix(200)) + "..." : s
        return "\"" + shown.map { $0.isASCII && !$0.isNewline && $0 != "\"" ? String($0) : "?" }.joined() + "\""
    }
}
