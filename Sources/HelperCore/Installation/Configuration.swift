import LinuxSystem

/// /etc-style settings, from a root-owned file at a fixed place relative to
/// the installed binary: `<prefix>/etc/criu-helper.conf` for
/// `<prefix>/bin/criu-helper`, and `/etc/criu-helper.conf` for the Debian
/// package's `/usr/bin/criu-helper` (the FHS puts /usr's configuration in
/// /etc). Never from the caller.
public struct Configuration: Equatable, Sendable {
    public enum AuditPolicy: String, Sendable { case required, bestEffort = "best-effort" }
    /// Whether tasks with more than one thread are dumped and restored.
    /// criu restores each thread's credentials in turn, and all threads
    /// share one address space: once one thread has dropped criu's
    /// capability the caller may write its memory (/proc/TID/mem), and so
    /// run code in a sibling that still holds it. `refuse` closes that;
    /// `allow` accepts it (README, "Multi-threaded tasks").
    public enum MultiThreadedPolicy: String, Sendable { case refuse, allow }

    /// Absolute path of criu (root-owned, as every directory above it).
    public var criu: String = "/usr/sbin/criu"
    /// `required`: a request whose kernel audit record cannot be written is
    /// refused. `best-effort`: it goes on, and says so on stderr.
    public var audit: AuditPolicy = .required
    /// Tasks must have no_new_privs to be dumped (see README, "Why it is safe").
    public var requireNoNewPrivileges = true
    /// Good generations kept per images directory.
    public var keep = 2
    /// Seconds a request waits for another one on the same images directory.
    public var lockTimeout = 60
    /// Seconds criu may take for one dump or restore before it is killed
    /// (with everything it started) and the request fails.
    public var criuTimeout = 1800
    /// The largest deleted file a dump keeps (criu --ghost-limit), in bytes.
    public var ghostLimit: Int64 = 64 << 20
    public var maximumTasks = 4096
    public var maximumThreads = 65536
    public var multiThreaded: MultiThreadedPolicy = .refuse

    public init() {}

    public static let fileName = "criu-helper.conf"

    /// Where the configuration belongs for a binary at `executable`.
    public static func path(forExecutable executable: String) -> String {
        var parts = executable.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if parts.count >= 2 { parts.removeLast(2) } else { parts.removeAll() }
        if parts == ["usr"] { parts.removeAll() }
        return "/" + (parts + ["etc", fileName]).joined(separator: "/")
    }

    /// The restore check criu runs as its action script
    /// (criu-helper-restore-check), installed next to a binary at
    /// `executable`: `<prefix>/libexec/criu-helper-restore-check`.
    public static func restoreCheckPath(forExecutable executable: String) -> String {
        var parts = executable.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if parts.count >= 2 { parts.removeLast(2) } else { parts.removeAll() }
        return "/" + (parts + ["libexec", "criu-helper-restore-check"]).joined(separator: "/")
    }

    /// Loads and checks the file: root-owned all the way down, then parsed strictly.
    public static func load(from path: String) throws(HelperFailure) -> Configuration {
        let fd: FileDescriptor
        do { fd = try TrustedFile.open(path, .readOnly) } catch {
            throw .unavailable("configuration \(path): \(error)")
        }
        let text: [UInt8]
        do { text = try fd.readAll(limit: 64 * 1024) } catch { throw .unavailable("configuration \(path): \(error.errno)") }
        return try parse(String(decoding: text, as: UTF8.self), path: path)
    }

    public static func parse(_ text: String, path: String) throws(HelperFailure) -> Configuration {
        var config = Configuration()
        var seen: Set<String> = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let trimmed = line.trimmed()
            if trimmed.isEmpty { continue }
            let at = "configuration \(path) line \(index + 1)"
            guard let eq = trimmed.firstIndex(of: "=") else { throw .unavailable("\(at): expected `key = value`") }
            let key = String(trimmed[..<eq]).trimmed()
            let value = String(trimmed[trimmed.index(after: eq)...]).trimmed()
            guard seen.insert(key).inserted else { throw .unavailable("\(at): \(key) is set twice") }
            func number(_ range: ClosedRange<Int>) throws(HelperFailure) -> Int {
                guard let n = Int(value), range.contains(n) else { throw .unavailable("\(at): \(key) must be \(range.lowerBound)...\(range.upperBound)") }
                return n
            }
            switch key {
            case "criu":
                guard value.hasPrefix("/") else { throw .unavailable("\(at): criu must be an absolute path") }
                config.criu = value
            case "audit":
                guard let policy = AuditPolicy(rawValue: value) else { throw .unavailable("\(at): audit must be required or best-effort") }
                config.audit = policy
            case "require-no-new-privs":
                guard value == "yes" || value == "no" else { throw .unavailable("\(at): require-no-new-privs must be yes or no") }
                config.requireNoNewPrivileges = value == "yes"
            case "keep": config.keep = try number(1...100)
            case "lock-timeout": config.lockTimeout = try number(0...3600)
            case "criu-timeout": config.criuTimeout = try number(1...86400)
            case "ghost-limit":
                guard let bytes = Self.size(value), bytes <= 1 << 40 else {
                    throw .unavailable("\(at): ghost-limit must be a size such as 64M (bytes, or with K, M or G), at most 1T")
                }
                config.ghostLimit = bytes
            case "multi-threaded":
                guard let policy = MultiThreadedPolicy(rawValue: value) else { throw .unavailable("\(at): multi-threaded must be refuse or allow") }
                config.multiThreaded = policy
            case "max-tasks": config.maximumTasks = try number(1...100_000)
            case "max-threads": config.maximumThreads = try number(1...1_000_000)
            default:
                throw .unavailable("\(at): unknown setting \(RequestParser.shown(key))")
            }
        }
        return config
    }
}

extension Configuration {
    /// "64M", "1048576", "2G": bytes.
    static func size(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = Substring(text)
        var unit: Int64 = 1
        if let last = digits.last, let u = units[last] { unit = u; digits = digits.dropLast() }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.count <= 13, let n = Int64(digits) else { return nil }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: unit)
        return overflow ? nil : bytes
    }
}

extension String {
    func trimmed() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
