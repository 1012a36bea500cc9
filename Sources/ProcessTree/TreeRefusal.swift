import LinuxSystem

/// Why a process tree may not be checkpointed by this caller. Each message
/// names the task and the values compared, as shadow's tools do.
public enum TreeRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    case initProcess
    case noSuchProcess(Int32)
    case notAProcess(pid: Int32, tgid: Int32)
    case kernelThread(Int32)
    case containsHelper(Int32)
    case foreignID(pid: Int32, tid: Int32, field: String, value: UInt32, expected: String)
    case foreignGroup(pid: Int32, tid: Int32, group: UInt32, allowed: String)
    case capabilities(pid: Int32, tid: Int32, set: String, mask: UInt64)
    case notDumpable(pid: Int32, tid: Int32)
    case otherNamespace(pid: Int32, tid: Int32, kind: String)
    case noNewPrivileges(pid: Int32, tid: Int32)
    case tooManyTasks(limit: Int)
    case tooManyThreads(limit: Int)
    case vanished(Int32)
    case unreadable(pid: Int32, what: String)

    public var description: String {
        func who(_ pid: Int32, _ tid: Int32) -> String { pid == tid ? "task \(pid)" : "task \(pid) (thread \(tid))" }
        switch self {
        case .initProcess:
            return "pid 1 cannot be checkpointed"
        case .noSuchProcess(let pid):
            return "no process \(pid)"
        case .notAProcess(let pid, let tgid):
            return "\(pid) is a thread of process \(tgid), not a process"
        case .kernelThread(let pid):
            return "\(pid) is a kernel thread"
        case .containsHelper(let pid):
            return "the tree contains criu-helper itself or one of its ancestors (pid \(pid))"
        case .foreignID(let pid, let tid, let field, let value, let expected):
            return "\(who(pid, tid)) has \(field) \(value), not the caller's \(expected)"
        case .foreignGroup(let pid, let tid, let group, let allowed):
            return "\(who(pid, tid)) has group \(group), which is not one of the caller's groups (\(allowed))"
        case .capabilities(let pid, let tid, let set, let mask):
            return "\(who(pid, tid)) holds capabilities (\(set) \(hex16(mask)))"
        case .notDumpable(let pid, let tid):
            return "\(who(pid, tid)) is not dumpable (it changed credentials, for example by running a set-user-ID program)"
        case .otherNamespace(let pid, let tid, let kind):
            return "\(who(pid, tid)) is in another \(kind) namespace than the caller"
        case .noNewPrivileges(let pid, let tid):
            return "\(who(pid, tid)) does not have no_new_privs set (start jobs with `criu-helper run` or `setpriv --no-new-privs`)"
        case .tooManyTasks(let limit):
            return "the tree has more than \(limit) processes"
        case .tooManyThreads(let limit):
            return "the tree has more than \(limit) threads"
        case .vanished(let pid):
            return "task \(pid) exited while the tree was being checked; try again"
        case .unreadable(let pid, let what):
            return "cannot read /proc/\(pid): \(what)"
        }
    }
}

func hex16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}
