import LinuxSystem

/// One process of the tree, pinned: its pidfd and its /proc directory were
/// opened in that order and the pidfd was alive afterwards, so the directory
/// is this process's and not a successor's with the same PID.
public final class PinnedTask {
    public let pid: Int32
    public let pin: any ProcessPin
    public let status: TaskStatus
    public let stat: TaskStat
    /// Thread ids, the main thread first.
    public let threads: [Int32]

    init(pid: Int32, pin: any ProcessPin, status: TaskStatus, stat: TaskStat, threads: [Int32]) {
        self.pid = pid
        self.pin = pin
        self.status = status
        self.stat = stat
        self.threads = threads
    }
}
