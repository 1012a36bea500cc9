import Credentials
import LinuxSystem

/// Why a process tree may not be checkpointed by this caller. Each message
/// names the task and the values compared, as shadow's tools do.
public enum TreeRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    case initProcess
    case noSuchProcess(Int32)
    case notAProcess(pid: Int32, tgid: Int32)
    case kernelThread(Int32)
    case containsHelper(Int32)
    case credentials(CredentialViolation)
    case notDumpable(pid: Int32, tid: Int32)
    case otherNamespace(pid: Int32, tid: Int32, kind: String)
    case tooManyTasks(limit: Int)
    case tooManyThreads(limit: Int)
    case vanished(Int32)
    case keptChanging(root: Int32)
    case unreadable(pid: Int32, what: String)

    static func who(_ pid: Int32, _ tid: Int32) -> String { pid == tid ? "task \(pid)" : "task \(pid) (thread \(tid))" }

    public var description: String {
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
        case .credentials(let violation):
            return violation.description
        case .notDumpable(let pid, let tid):
            return "\(Self.who(pid, tid)) is not dumpable (it changed credentials, for example by running a set-user-ID program)"
        case .otherNamespace(let pid, let tid, let kind):
            return "\(Self.who(pid, tid)) is in another \(kind) namespace than the job's root, or than criu-helper"
        case .tooManyTasks(let limit):
            return "the tree has more than \(limit) processes"
        case .tooManyThreads(let limit):
            return "the tree has more than \(limit) threads"
        case .vanished(let pid):
            return "task \(pid) exited while the tree was being checked; try again"
        case .keptChanging(let root):
            return "the tree of \(root) kept changing while it was checked (tasks ending, their children moving to another parent); try again"
        case .unreadable(let pid, let what):
            return "cannot read /proc/\(pid): \(what)"
        }
    }
}
