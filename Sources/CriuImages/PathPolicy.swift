/// Which file paths an image may name. criu opens them on restore; it holds
/// capabilities while it does, so paths into /proc (other processes' cwd,
/// root and fds) and device nodes are refused outright.
public enum PathPolicy {
    static let allowedDevices: Set<String> = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]

    public static func check(_ path: String, what: String) throws(ImageError) {
        guard path.hasPrefix("/") else { throw .forbidden(file: "", "\(what) path is not absolute: \(quoted(path))") }
        guard !path.utf8.contains(0) else { throw .forbidden(file: "", "\(what) path holds a NUL byte") }
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for c in components where c == "." || c == ".." {
            throw .forbidden(file: "", "\(what) path has a '\(c)' component: \(quoted(path))")
        }
        if path == "/proc" || path.hasPrefix("/proc/") {
            throw .forbidden(file: "", "\(what) path is in /proc: \(quoted(path))")
        }
        if path == "/dev" || path.hasPrefix("/dev/") {
            let inShm = path.hasPrefix("/dev/shm/") && path.count > 9
            guard allowedDevices.contains(path) || inShm else {
                throw .forbidden(file: "", "\(what) path is a device or in /dev: \(quoted(path))")
            }
        }
    }

    static func quoted(_ s: String) -> String {
        let shown = s.count > 200 ? String(s.prefix(200)) + "..." : s
        return "\"" + shown.map { $0.isASCII && !$0.isNewline && $0 != "\"" ? String($0) : "?" }.joined() + "\""
    }
}
