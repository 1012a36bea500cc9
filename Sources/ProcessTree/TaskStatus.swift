/// The fields of /proc/PID/status (or /proc/PID/task/TID/status) that the
/// ownership check decides on.
public struct TaskStatus: Equatable, Sendable {
    public var name: String
    public var state: Character
    public var tgid: Int32
    public var pid: Int32
    public var ppid: Int32
    /// Real, effective, saved, file-system uid.
    public var uids: [UInt32]
    public var gids: [UInt32]
    public var groups: [UInt32]
    public var capInh: UInt64
    public var capPrm: UInt64
    public var capEff: UInt64
    public var capBnd: UInt64
    public var capAmb: UInt64
    public var noNewPrivs: Bool
    /// "Kthread:" (Linux >= 6.9); nil on kernels without the line.
    public var kernelThread: Bool?
    /// "NSpid:": this task's PID in each PID namespace from the reader's
    /// down to its own; the last one is the PID inside its own namespace.
    public var namespacePIDs: [Int32] = []
    /// "SigPnd:" | "ShdPnd:": signals pending for the thread or its process
    /// (0 where the lines are missing).
    public var pendingSignals: UInt64 = 0
    /// "VmSize:" is present: the task has its memory. A task that is not a
    /// kernel thread loses it only on its way out (exit_mm), for good; its
    /// /proc files then turn root's, as a non-dumpable task's do.
    public var hasMemory: Bool = true

    /// The PID as the task's own PID namespace numbers it.
    public var innermostPID: Int32 { namespacePIDs.last ?? pid }

    public var isZombie: Bool { state == "Z" || state == "X" }
    /// Stopped by a signal ("T") or by a tracer ("t").
    public var isStopped: Bool { state == "T" || state == "t" }
    /// SIGSTOP (19) is pending: the task stops before it runs its own code
    /// again (SIGSTOP cannot be blocked, caught or ignored).
    public var stopPending: Bool { pendingSignals & (1 << 18) != 0 }

    public static let uidNames = ["uid", "euid", "suid", "fsuid"]
    public static let gidNames = ["gid", "egid", "sgid", "fsgid"]

    /// Parses the text. Every field the check needs must be present and well
    /// formed; otherwise the status is refused rather than guessed.
    public static func parse(_ text: String) throws(ProcParseError) -> TaskStatus {
        var fields: [Substring: Substring] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            var value = line[line.index(after: colon)...]
            while let f = value.first, f == "\t" || f == " " { value.removeFirst() }
            if fields[key] != nil { throw .malformed("status", "duplicated \(key)") }
            fields[key] = value
        }
        func field(_ key: Substring) throws(ProcParseError) -> Substring {
            guard let value = fields[key] else { throw .malformed("status", "no \(key) line") }
            return value
        }
        func number<T: FixedWidthInteger>(_ key: Substring, _: T.Type) throws(ProcParseError) -> T {
            guard let n = T(try field(key)) else { throw .malformed("status", "bad \(key)") }
            return n
        }
        func ids(_ key: Substring) throws(ProcParseError) -> [UInt32] {
            let parts = try field(key).split(whereSeparator: { $0 == "\t" || $0 == " " })
            let values = parts.compactMap { UInt32($0) }
            guard values.count == 4, parts.count == 4 else { throw .malformed("status", "bad \(key)") }
            return values
        }
        func mask(_ key: Substring) throws(ProcParseError) -> UInt64 {
            let text = try field(key)
            guard text.count == 16, let value = UInt64(text, radix: 16) else { throw .malformed("status", "bad \(key)") }
            return value
        }
        let groupText = fields["Groups"] ?? ""
        let groupParts = groupText.split(separator: " ")
        let groups = groupParts.compactMap { UInt32($0) }
        guard groups.count == groupParts.count else { throw .malformed("status", "bad Groups") }
        let stateText = try field("State")
        guard let state = stateText.first else { throw .malformed("status", "bad State") }
        let nnp = try number("NoNewPrivs", UInt8.self)
        var kthread: Bool? = nil
        if let k = fields["Kthread"] {
            guard k == "0" || k == "1" else { throw .malformed("status", "bad Kthread") }
            kthread = k == "1"
        }
        let nspid = (fields["NSpid"] ?? "").split(whereSeparator: { $0 == "\t" || $0 == " " }).compactMap { Int32($0) }
        var pending: UInt64 = 0
        for key: Substring in ["SigPnd", "ShdPnd"] where fields[key] != nil { pending |= try mask(key) }
        return TaskStatus(
            name: String(try field("Name")),
            state: state,
            tgid: try number("Tgid", Int32.self),
            pid: try number("Pid", Int32.self),
            ppid: try number("PPid", Int32.self),
            uids: try ids("Uid"),
            gids: try ids("Gid"),
            groups: groups,
            capInh: try mask("CapInh"),
            capPrm: try mask("CapPrm"),
            capEff: try mask("CapEff"),
            capBnd: try mask("CapBnd"),
            capAmb: try mask("CapAmb"),
            noNewPrivs: nnp == 1,
            kernelThread: kthread,
            namespacePIDs: nspid,
            pendingSignals: pending,
            hasMemory: fields["VmSize"] != nil
        )
    }
}
