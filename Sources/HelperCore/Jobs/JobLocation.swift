import LinuxSystem
import ProcessTree

/// Where a job's root lives, and the namespaces criu must run in to dump it.
/// A job started by `run` or restored by the helper is in PID and mount
/// namespaces of its own, whose PID 1 is the helper's reaper: criu then runs
/// inside them (verified: JobNamespaces) and names the root by its PID in
/// there. Any other tree must be in the helper's own namespaces.
final class JobLocation {
    /// The root as the helper sees it.
    let outerPID: Int32
    /// The root as criu (inside the job's namespaces, if any) sees it.
    let innerPID: Int32
    /// The job's namespaces, verified; nil for a tree in the helper's own.
    let namespaces: JobNamespaces?
    /// The PID and mount namespaces every task of the tree must be in.
    let pidNamespace: NamespaceID
    let mountNamespace: NamespaceID
    /// The network namespace every task must be in: the helper's, or the
    /// job's own (`run --private-network`).
    let networkNamespace: NamespaceID
    /// The namespaces' PID 1, pinned: killing it ends the job and
    /// everything in its namespaces. nil for a tree in the helper's own.
    let reaper: PidfdPin?

    /// In a network namespace the helper made for the job, not the helper's own.
    func hasPrivateNetwork(_ helper: HelperNamespaces) -> Bool { networkNamespace != helper.network }

    init(outerPID: Int32, innerPID: Int32, namespaces: JobNamespaces?, pidNamespace: NamespaceID,
         mountNamespace: NamespaceID, networkNamespace: NamespaceID, reaper: PidfdPin?) {
        self.outerPID = outerPID
        self.innerPID = innerPID
        self.namespaces = namespaces
        self.pidNamespace = pidNamespace
        self.mountNamespace = mountNamespace
        self.networkNamespace = networkNamespace
        self.reaper = reaper
    }

    /// The helper's own namespaces.
    struct HelperNamespaces {
        var user: NamespaceID
        var pid: NamespaceID
        var mount: NamespaceID
        var network: NamespaceID

        static func read(_ proc: ProcFilesystem) throws(HelperFailure) -> HelperNamespaces {
            let me = String(Kernel.processID)
            do {
                return HelperNamespaces(user: try proc.namespace(.user, of: me), pid: try proc.namespace(.pid, of: me),
                                        mount: try proc.namespace(.mount, of: me), network: try proc.namespace(.network, of: me))
            } catch {
                throw .internalError("cannot read the helper's own namespaces: \(error)")
            }
        }
    }

    /// The job of task `pid` (dump --pid): in the helper's namespaces, or one
    /// level below them, in namespaces that pass JobNamespaces.
    static func find(_ pid: Int32, proc: ProcFilesystem, helper: HelperNamespaces, caller: Caller) throws(HelperFailure) -> JobLocation {
        guard pid != 1 else { throw .refused("pid 1 cannot be checkpointed") }
        let status: TaskStatus
        do { status = try proc.status("\(pid)") } catch let error as SystemError where error.errno == .noSuchFileOrDirectory {
            throw .refused("no process \(pid)")
        } catch {
            throw .refused("cannot read /proc/\(pid): \(error)")
        }
        let inHelpersNamespace: Bool
        do { inHelpersNamespace = try proc.namespace(.pid, of: "\(pid)") == helper.pid } catch {
            // Not ours to look at (another user's, not dumpable): the tree
            // check names the reason.
            return host(pid, helper)
        }
        if inHelpersNamespace || status.namespacePIDs.count <= 1 { return host(pid, helper) }
        guard status.namespacePIDs.count == 2 else {
            throw .refused("task \(pid) is in a nested PID namespace (depth \(status.namespacePIDs.count - 1)), which criu-helper does not dump")
        }
        guard status.innermostPID != 1 else {
            throw .refused("task \(pid) is the init of its PID namespace; give the job's root instead")
        }
        guard let reaper = findReaper(of: pid, proc: proc) else {
            throw .refused("task \(pid) is in a PID namespace that criu-helper did not create (its init cannot be found)")
        }
        try checkReaper(reaper.pid, pin: reaper.pin, proc: proc, caller: caller)
        return try inNamespaces(root: pid, inner: status.innermostPID, reaper: reaper.pin, proc: proc, helper: helper)
    }

    /// A namespace criu-helper made has its reaper as PID 1: a process of
    /// the caller's that is not dumpable (a clone of the helper). An init of
    /// root's or a dumpable one means namespaces someone else made; they are
    /// refused even when they would pass JobNamespaces.
    static func checkReaper(_ pid: Int32, pin: any ProcessPin, proc: ProcFilesystem, caller: Caller) throws(HelperFailure) {
        guard let status = try? proc.status("\(pid)"), status.uids.allSatisfy({ $0 == caller.uid }),
              let fd = try? proc.root.status(of: "\(pid)/fd"), fd.owner == 0, pin.isAlive else {
            throw .refused("task \(pid) is not a criu-helper reaper of the caller's: its PID namespace is one criu-helper did not create")
        }
    }

    /// The job recorded in the images directory by `run` or `restore`: its
    /// reaper must still be the one recorded (same PID and start time), and
    /// the root its descendant.
    static func fromRecord(_ record: JobRecord, proc: ProcFilesystem, helper: HelperNamespaces, caller: Caller) throws(HelperFailure) -> JobLocation {
        let reaper: PidfdPin
        do { reaper = try PidfdPin(pid: record.reaperPID) } catch {
            throw .refused("the job recorded in the images directory has ended (its reaper \(record.reaperPID) is gone)")
        }
        guard let stat = try? TaskStat.parse(try proc.read("\(record.reaperPID)/stat")), reaper.isAlive,
              stat.startTime == record.reaperStartTime else {
            throw .refused("the job recorded in the images directory has ended (PID \(record.reaperPID) is another process now)")
        }
        guard let status = try? proc.status("\(record.reaperPID)"), status.namespacePIDs.count == 2,
              status.namespacePIDs[1] == 1 else {
            throw .refused("the job record names process \(record.reaperPID), which is not the init of a job's namespaces")
        }
        try checkReaper(record.reaperPID, pin: reaper, proc: proc, caller: caller)
        guard let root = descendant(of: record.reaperPID, inner: record.rootInnerPID, proc: proc) else {
            throw .refused("the job recorded in the images directory has ended (no task \(record.rootInnerPID) in its namespace)")
        }
        return try inNamespaces(root: root, inner: record.rootInnerPID, reaper: reaper, proc: proc, helper: helper)
    }

    static func host(_ pid: Int32, _ helper: HelperNamespaces) -> JobLocation {
        JobLocation(outerPID: pid, innerPID: pid, namespaces: nil, pidNamespace: helper.pid,
                    mountNamespace: helper.mount, networkNamespace: helper.network, reaper: nil)
    }

    static func inNamespaces(root: Int32, inner: Int32, reaper: PidfdPin, proc: ProcFilesystem,
                             helper: HelperNamespaces) throws(HelperFailure) -> JobLocation {
        let pin: any ProcessPin
        do { pin = try proc.pin(root) } catch { throw .refused("no process \(root)") }
        let namespaces = try JobNamespaces.verify(root: root, pin: pin, proc: proc,
                                                  helperUserNamespace: helper.user)
        return JobLocation(outerPID: root, innerPID: inner, namespaces: namespaces, pidNamespace: namespaces.pid.identity,
                           mountNamespace: namespaces.mount.identity, networkNamespace: namespaces.network.identity,
                           reaper: reaper)
    }

    /// Up the parents of `pid` to the init of its PID namespace (NSpid
    /// "N 1"). Every process on the way is one level below the helper's
    /// namespace, so all are in the same one: a parent is in its child's PID
    /// namespace or an ancestor of it, never a sibling.
    static func findReaper(of pid: Int32, proc: ProcFilesystem) -> (pid: Int32, pin: PidfdPin)? {
        var current = pid
        for _ in 0..<4096 {
            guard let status = try? proc.status("\(current)"), status.namespacePIDs.count == 2 else { return nil }
            if status.namespacePIDs[1] == 1 { return (try? PidfdPin(pid: current)).map { (current, $0) } }
            current = status.ppid
        }
        return nil
    }

    /// The PID outside of the descendant of `reaper` numbered `inner` inside.
    static func descendant(of reaper: Int32, inner: Int32, proc: ProcFilesystem) -> Int32? {
        var queue = (try? proc.children(of: reaper)) ?? []
        var next = 0
        while next < queue.count, next < 100_000 {
            let current = queue[next]
            next += 1
            if let status = try? proc.status("\(current)"), status.innermostPID == inner { return current }
            queue += (try? proc.children(of: current)) ?? []
        }
        return nil
    }

    /// Ends the job after a checkpoint: SIGKILL to its namespace's PID 1,
    /// which takes every task in there along; for a tree in the helper's
    /// namespaces, SIGKILL to every task of `tree` (criu left them stopped:
    /// they cannot fork meanwhile).
    func end(_ tree: ProcessTree) {
        if let reaper { try? reaper.send(.kill) } else { tree.signalAll(.kill) }
    }
}
