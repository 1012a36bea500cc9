import LinuxSystem
import ProcessTree

/// Where a job's root lives. A job started by `run` or restored by the
/// helper is in its own PID and mount namespaces, under the helper's reaper
/// (PID 1 there); criu must then run inside those namespaces and name the
/// root by its PID in there.
public final class JobLocation {
    /// The root as the helper sees it.
    public let outerPID: Int32
    /// The root as criu (inside the job's namespaces, if any) sees it.
    public let innerPID: Int32
    /// The namespace's init, pinned; nil for a job in the helper's namespaces.
    public let reaper: ReaperHandle?
    public let pidNamespace: NamespaceID

    init(outerPID: Int32, innerPID: Int32, reaper: ReaperHandle?, pidNamespace: NamespaceID) {
        self.outerPID = outerPID
        self.innerPID = innerPID
        self.reaper = reaper
        self.pidNamespace = pidNamespace
    }

    /// Finds the namespace of `pid`. Nested namespaces (more than one level
    /// below the helper's) and namespaces whose init is not the caller's are
    /// refused.
    public static func find(_ pid: Int32, proc: ProcFilesystem, caller: Caller,
                            helperNamespace: NamespaceID, helperExecutable: String) throws(HelperFailure) -> JobLocation {
        guard pid != 1 else { throw .refused("pid 1 cannot be checkpointed") }
        let status: TaskStatus
        let namespace: NamespaceID
        do {
            status = try TaskStatus.parse(try proc.read("\(pid)/status"))
            namespace = try proc.namespace("pid", of: String(pid))
        } catch let error as SystemError where error.errno == .noSuchFileOrDirectory {
            throw .refused("no process \(pid)")
        } catch let error as SystemError where error.errno == .permissionDenied {
            // Not traceable by the caller (another user's, or not dumpable):
            // the tree check names the reason.
            return JobLocation(outerPID: pid, innerPID: pid, reaper: nil, pidNamespace: helperNamespace)
        } catch {
            throw .refused("cannot read /proc/\(pid): \(error)")
        }
        if namespace == helperNamespace {
            return JobLocation(outerPID: pid, innerPID: pid, reaper: nil, pidNamespace: namespace)
        }
        guard status.namespacePIDs.count == 2 else {
            throw .refused("task \(pid) is in a PID namespace that criu-helper did not create (nesting depth \(status.namespacePIDs.count))")
        }
        guard status.innermostPID != 1 else {
            throw .refused("task \(pid) is the init of its PID namespace; give the job's root instead")
        }
        // Up the parents to the namespace's init.
        var current = pid
        var seen = 0
        while seen < 4096 {
            seen += 1
            guard let s = try? TaskStatus.parse(try proc.read("\(current)/status")) else { break }
            if s.namespacePIDs.count == 2 && s.namespacePIDs[1] == 1 {
                guard (try? proc.namespace("pid", of: String(current))) == namespace else { break }
                guard s.uids.allSatisfy({ $0 == caller.uid }) else {
                    throw .refused("the PID namespace of task \(pid) belongs to uid \(s.uids[0]), not to the caller")
                }
                // Only namespaces whose init is criu-helper's reaper: criu is
                // then started in namespaces the helper made itself.
                guard proc.executable(of: current) == helperExecutable else {
                    throw .refused("task \(pid) is in a PID namespace that criu-helper did not create")
                }
                let handle = try ReaperHandle.pin(current, startTime: nil, proc: proc)
                return JobLocation(outerPID: pid, innerPID: status.innermostPID, reaper: handle, pidNamespace: namespace)
            }
            guard s.namespacePIDs.count == 2 else { break }
            current = s.ppid
        }
        throw .refused("cannot find the init of task \(pid)'s PID namespace")
    }

    /// The root of a job from its record: the reaper must still be the one
    /// recorded (same PID and start time), and the root its descendant.
    public static func fromRecord(_ record: JobRecord, proc: ProcFilesystem, caller: Caller,
                                  helperExecutable: String) throws(HelperFailure) -> JobLocation {
        let reaper = try ReaperHandle.pin(record.reaperPID, startTime: record.reaperStartTime, proc: proc)
        guard proc.executable(of: record.reaperPID) == helperExecutable,
              let status = try? TaskStatus.parse(try proc.read("\(record.reaperPID)/status")),
              status.namespacePIDs.count == 2, status.namespacePIDs[1] == 1, status.uids.allSatisfy({ $0 == caller.uid }) else {
            throw .refused("the job record names process \(record.reaperPID), which is not a criu-helper job's reaper of the caller's")
        }
        guard let outer = reaper.outerPID(ofInner: record.rootInnerPID, proc: proc) else {
            throw .refused("the job recorded in the images directory has ended (no task \(record.rootInnerPID) in its namespace)")
        }
        let namespace: NamespaceID
        do { namespace = try proc.namespace("pid", of: String(outer)) } catch { throw .refused("cannot read /proc/\(outer): \(error)") }
        return JobLocation(outerPID: outer, innerPID: record.rootInnerPID, reaper: reaper, pidNamespace: namespace)
    }
}

/// The reaper of a job's namespaces, pinned with a pidfd.
public final class ReaperHandle {
    public let pid: Int32
    public let startTime: UInt64
    let pidfd: PidFD

    init(pid: Int32, startTime: UInt64, pidfd: consuming PidFD) {
        self.pid = pid
        self.startTime = startTime
        self.pidfd = pidfd
    }

    static func pin(_ pid: Int32, startTime expected: UInt64?, proc: ProcFilesystem) throws(HelperFailure) -> ReaperHandle {
        let fd: PidFD
        do { fd = try PidFD(pid: pid) } catch { throw .refused("the job's namespace (reaper \(pid)) is gone") }
        guard let stat = try? TaskStat.parse(try proc.read("\(pid)/stat")), fd.isAlive else {
            throw .refused("the job's namespace (reaper \(pid)) is gone")
        }
        if let expected, expected != stat.startTime {
            throw .refused("the job recorded in the images directory has ended (PID \(pid) is another process now)")
        }
        return ReaperHandle(pid: pid, startTime: stat.startTime, pidfd: fd)
    }

    /// Ends the job: SIGKILL to the namespace's init kills every task in it.
    public func kill() { try? pidfd.send(9) }

    /// Starts a program inside this reaper's PID and mount namespaces.
    func startInNamespaces(_ request: SpawnRequest) throws(SystemError) -> Int32 {
        try Spawn.startInNamespaces(of: pidfd, request)
    }

    /// The PID outside of the descendant numbered `inner` inside.
    public func outerPID(ofInner inner: Int32, proc: ProcFilesystem) -> Int32? {
        var queue = [pid]
        var visited = 0
        while let current = queue.first, visited < 100_000 {
            queue.removeFirst()
            visited += 1
            if current != pid, let s = try? TaskStatus.parse(try proc.read("\(current)/status")), s.innermostPID == inner {
                return current
            }
            queue += proc.children(of: current)
        }
        return nil
    }
}
