/// One process of the tree, pinned: its pidfd was opened before its /proc
/// files were read and was alive afterwards, so what was read is this
/// process's and not a successor's with the same PID.
public final class PinnedTask {
    public let pid: Int32
    public let pin: any ProcessPin
    public let status: TaskStatus
    /// Thread ids, the main thread first.
    public let threads: [Int32]
    /// Its threads' children when it was checked.
    public let children: [Int32]

    init(pid: Int32, pin: any ProcessPin, status: TaskStatus, threads: [Int32], children: [Int32]) {
        self.pid = pid
        self.pin = pin
        self.status = status
        self.threads = threads
        self.children = children
    }
}
