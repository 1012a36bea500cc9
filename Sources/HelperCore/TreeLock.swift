import LinuxSystem

/// Serialises requests on one process tree, whatever images directory they
/// use: an abstract socket named after the root's PID and start time.
/// A name taken by another user's process is squatting, not a request on
/// this tree (only the tree's owner can ask for it): it is ignored rather
/// than allowed to block the owner's checkpoints.
public final class TreeLock {
    var lock: AbstractSocketLock?

    init(lock: consuming AbstractSocketLock?) { self.lock = lock }

    public static func acquire(rootPID: Int32, startTime: UInt64, caller: Caller) throws(HelperFailure) -> TreeLock {
        let name = "criu-helper/tree/\(rootPID)/\(startTime)"
        let result: AbstractSocketLock.Result
        do { result = try AbstractSocketLock.acquire(name) } catch { throw .internalError("tree lock: \(error)") }
        switch consume result {
        case .acquired(let lock):
            return TreeLock(lock: lock)
        case .held(let pid, let uid):
            if uid == caller.uid {
                throw .refused("another criu-helper request (pid \(pid)) is working on the tree of \(rootPID)")
            }
            return TreeLock(lock: nil)
        }
    }

    public func release() { lock = nil }
}
