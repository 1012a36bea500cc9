/// The fields of /proc/PID/stat the helper needs: session, process group,
/// controlling terminal and the kernel-thread flag.
public struct TaskStat: Equatable, Sendable {
    public var pid: Int32
    public var state: Character
    public var ppid: Int32
    public var processGroup: Int32
    public var session: Int32
    /// Device number of the controlling terminal, 0 for none.
    public var terminal: Int32
    /// `task->flags` (PF_*).
    public var flags: UInt64
    /// Start time in clock ticks after boot: with the PID, identifies a process.
    public var startTime: UInt64

    /// PF_KTHREAD
    public var isKernelThread: Bool { flags & 0x0020_0000 != 0 }

    /// The command name sits in parentheses and may itself contain spaces
    /// and parentheses: everything after the last ')' is split.
    public static func parse(_ text: String) throws(ProcParseError) -> TaskStat {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")") else {
            throw .malformed("stat", "no command name")
        }
        guard let pid = Int32(text[..<open].trimmingCharacters(" ")) else { throw .malformed("stat", "bad pid") }
        let rest = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // rest[0] state, [1] ppid, [2] pgrp, [3] session, [4] tty_nr, [5] tpgid, [6] flags, ... [19] starttime
        guard rest.count >= 20, let state = rest[0].first,
              let ppid = Int32(rest[1]), let pgrp = Int32(rest[2]), let session = Int32(rest[3]),
              let tty = Int32(rest[4]), let flags = UInt64(rest[6]), let start = UInt64(rest[19]) else {
            throw .malformed("stat", "too few fields")
        }
        return TaskStat(pid: pid, state: state, ppid: ppid, processGroup: pgrp, session: session, terminal: tty,
                        flags: flags, startTime: start)
    }
}

extension Substring {
    func trimmingCharacters(_ c: Character) -> Substring {
        var s = self
        while s.first == c { s.removeFirst() }
        while s.last == c { s.removeLast() }
        return s
    }
}
