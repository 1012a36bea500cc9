import Credentials

/// The fields of /proc/PID/status (or /proc/PID/task/TID/status) that the
/// checks decide on.
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
    /// "NSpgid:" and "NSsid:", as the reader's PID namespace numbers them
    /// (the first value); 0 where the line is missing.
    public var processGroup: Int32 = 0
    public var session: Int32 = 0
    /// "Threads:"; nil where the line is missing.
    public var threadCount: Int? = nil
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

    /// What the credential rule decides on.
    public var credentials: Credentials {
        Credentials(uids: uids, gids: gids, groups: groups, inheritable: capInh, permitted: capPrm,
                    effective: capEff, ambient: capAmb, noNewPrivileges: noNewPrivs)
    }

    public static func parse(_ text: String) throws(ProcParseError) -> TaskStatus {
        let bytes = Array(text.utf8)
        let result: Result<TaskStatus, ProcParseError> = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(ProcParseError) in try parse(buffer) }
        }
        return try result.get()
    }

    /// Parses the text, byte by byte. Every field the check needs must be
    /// present, once, and well formed; otherwise the status is refused
    /// rather than guessed.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(ProcParseError) -> TaskStatus {
        var name: String? = nil, state: Character? = nil
        var tgid: Int32? = nil, pid: Int32? = nil, ppid: Int32? = nil
        var uids: [UInt32]? = nil, gids: [UInt32]? = nil, groups: [UInt32]? = nil
        var masks: [UInt64?] = [nil, nil, nil, nil, nil]   // CapInh CapPrm CapEff CapBnd CapAmb
        var nnp: Bool? = nil, kthread: Bool? = nil
        var nspid: [Int32] = [], nspgid: Int32 = 0, nssid: Int32 = 0, threads: Int? = nil
        var sigPnd: UInt64? = nil, shdPnd: UInt64? = nil
        var hasMemory = false
        // The fields read so far, one bit each (in the order of the switch).
        var seen: UInt32 = 0
        func once(_ bit: UInt32, _ key: String) throws(ProcParseError) {
            guard seen & (1 << bit) == 0 else { throw .malformed("status", "duplicated \(key)") }
            seen |= 1 << bit
        }

        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            var colon = lineStart
            while colon < lineEnd && bytes[colon] != 0x3A { colon += 1 }
            guard colon < lineEnd else { continue }
            var valueStart = colon + 1
            while valueStart < lineEnd && (bytes[valueStart] == 0x09 || bytes[valueStart] == 0x20) { valueStart += 1 }
            let key = String(decoding: UnsafeBufferPointer(rebasing: bytes[lineStart..<colon]), as: UTF8.self)
            let value = UnsafeBufferPointer(rebasing: bytes[valueStart..<lineEnd])
            switch key {
            case "Name": try once(0, key); name = String(decoding: value, as: UTF8.self)
            case "State":
                try once(1, key)
                guard let first = value.first else { throw .malformed("status", "bad State") }
                state = Character(Unicode.Scalar(first))
            case "Tgid": try once(2, key); tgid = try number(value, key)
            case "Pid": try once(3, key); pid = try number(value, key)
            case "PPid": try once(4, key); ppid = try number(value, key)
            case "Uid": try once(5, key); uids = try ids(value, key)
            case "Gid": try once(6, key); gids = try ids(value, key)
            case "Groups":
                try once(7, key)
                let parts = fields(value)
                var list: [UInt32] = []
                for part in parts { list.append(try number(part, key)) }
                groups = list
            case "CapInh": try once(8, key); masks[0] = try mask(value, key)
            case "CapPrm": try once(9, key); masks[1] = try mask(value, key)
            case "CapEff": try once(10, key); masks[2] = try mask(value, key)
            case "CapBnd": try once(11, key); masks[3] = try mask(value, key)
            case "CapAmb": try once(12, key); masks[4] = try mask(value, key)
            case "NoNewPrivs":
                try once(13, key)
                let n: UInt8 = try number(value, key)
                nnp = n == 1
            case "Kthread":
                try once(14, key)
                guard value.count == 1, value[0] == 0x30 || value[0] == 0x31 else { throw .malformed("status", "bad Kthread") }
                kthread = value[0] == 0x31
            case "NSpid":
                try once(15, key)
                for part in fields(value) { nspid.append(try number(part, key)) }
            case "NSpgid": try once(16, key); nspgid = try fields(value).first.map { (p) throws(ProcParseError) -> Int32 in try number(p, key) } ?? 0
            case "NSsid": try once(17, key); nssid = try fields(value).first.map { (p) throws(ProcParseError) -> Int32 in try number(p, key) } ?? 0
            case "Threads": try once(18, key); threads = try number(value, key)
            case "SigPnd": try once(19, key); sigPnd = try mask(value, key)
            case "ShdPnd": try once(20, key); shdPnd = try mask(value, key)
            case "VmSize": try once(21, key); hasMemory = true
            default: continue
            }
        }
        func required<T>(_ value: T?, _ key: String) throws(ProcParseError) -> T {
            guard let value else { throw .malformed("status", "no \(key) line") }
            return value
        }
        return TaskStatus(
            name: try required(name, "Name"), state: try required(state, "State"),
            tgid: try required(tgid, "Tgid"), pid: try required(pid, "Pid"), ppid: try required(ppid, "PPid"),
            uids: try required(uids, "Uid"), gids: try required(gids, "Gid"), groups: groups ?? [],
            capInh: try required(masks[0], "CapInh"), capPrm: try required(masks[1], "CapPrm"),
            capEff: try required(masks[2], "CapEff"), capBnd: try required(masks[3], "CapBnd"),
            capAmb: try required(masks[4], "CapAmb"), noNewPrivs: try required(nnp, "NoNewPrivs"),
            kernelThread: kthread, namespacePIDs: nspid, processGroup: nspgid, session: nssid, threadCount: threads,
            pendingSignals: (sigPnd ?? 0) | (shdPnd ?? 0), hasMemory: hasMemory)
    }

    /// Tab- or space-separated fields.
    static func fields(_ value: UnsafeBufferPointer<UInt8>) -> [UnsafeBufferPointer<UInt8>] {
        var result: [UnsafeBufferPointer<UInt8>] = []
        var i = 0
        while i < value.count {
            while i < value.count && (value[i] == 0x09 || value[i] == 0x20) { i += 1 }
            let start = i
            while i < value.count && value[i] != 0x09 && value[i] != 0x20 { i += 1 }
            if i > start { result.append(UnsafeBufferPointer(rebasing: value[start..<i])) }
        }
        return result
    }

    /// A decimal number that fits `T`, nothing else.
    static func number<T: FixedWidthInteger>(_ value: UnsafeBufferPointer<UInt8>, _ key: String) throws(ProcParseError) -> T {
        var negative = false
        var digits = value[...]
        if T.isSigned, digits.first == 0x2D { negative = true; digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.count <= 20 else { throw .malformed("status", "bad \(key)") }
        var result: T = 0
        for byte in digits {
            guard byte >= 0x30 && byte <= 0x39 else { throw .malformed("status", "bad \(key)") }
            let (times, o1) = result.multipliedReportingOverflow(by: 10)
            let (plus, o2) = times.addingReportingOverflow(T(byte - 0x30))
            guard !o1 && !o2 else { throw .malformed("status", "bad \(key)") }
            result = plus
        }
        return negative ? 0 - result : result
    }

    static func ids(_ value: UnsafeBufferPointer<UInt8>, _ key: String) throws(ProcParseError) -> [UInt32] {
        let parts = fields(value)
        guard parts.count == 4 else { throw .malformed("status", "bad \(key)") }
        var result: [UInt32] = []
        for part in parts { result.append(try number(part, key)) }
        return result
    }

    /// Sixteen hexadecimal digits.
    static func mask(_ value: UnsafeBufferPointer<UInt8>, _ key: String) throws(ProcParseError) -> UInt64 {
        guard value.count == 16 else { throw .malformed("status", "bad \(key)") }
        var result: UInt64 = 0
        for byte in value {
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x61...0x66: digit = byte - 0x61 + 10
            case 0x41...0x46: digit = byte - 0x41 + 10
            default: throw .malformed("status", "bad \(key)")
            }
            result = result << 4 | UInt64(digit)
        }
        return result
    }
}
