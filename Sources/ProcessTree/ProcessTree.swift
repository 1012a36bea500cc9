import LinuxSystem

/// A process tree that has passed the ownership check: every process and
/// every thread in it belongs to the caller, holds no capabilities, is
/// dumpable and lives in the caller's user and PID namespaces.
public final class ProcessTree {
    public let root: PinnedTask
    /// Every process, the root first, parents before children.
    public let tasks: [PinnedTask]

    public var threadCount: Int { tasks.reduce(0) { $0 + $1.threads.count } }

    /// criu needs --shell-job when the tree's session or process group leader
    /// is outside the tree, or when a task has a controlling terminal.
    public var needsShellJob: Bool {
        let pids = Set(tasks.map(\.pid))
        return tasks.contains { task in
            task.stat.terminal != 0 || !pids.contains(task.stat.session) || !pids.contains(task.stat.processGroup)
        }
    }

    /// Every pinned process is still alive (none was reaped since the check).
    public var allAlive: Bool { tasks.allSatisfy { $0.pin.isAlive } }

    /// Sends `signal` to every pinned process (pidfds: never a successor).
    public func signalAll(_ signal: Int32) {
        for task in tasks { try? task.pin.send(signal) }
    }

    init(tasks: [PinnedTask]) {
        self.root = tasks[0]
        self.tasks = tasks
    }

    /// Walks the tree from `rootPID` through /proc/PID/task/TID/children,
    /// pinning and checking each process and thread as it goes.
    public static func inspect(rootPID: Int32, in proc: ProcFilesystem, policy: TreePolicy) throws(TreeRefusal) -> ProcessTree {
        guard rootPID != 1 else { throw .initProcess }
        var tasks: [PinnedTask] = []
        var threadTotal = 0
        var queue: [(pid: Int32, parent: Int32?)] = [(rootPID, nil)]
        var seen: Set<Int32> = []
        while !queue.isEmpty {
            let (pid, parent) = queue.removeFirst()
            guard seen.insert(pid).inserted else { continue }
            guard let task = try pinAndCheck(pid: pid, expectedParent: parent, proc: proc, policy: policy) else {
                // A child that exited (or whose PID now belongs to another
                // parent) between the listing and the pin: not in the tree.
                continue
            }
            tasks.append(task)
            guard tasks.count <= policy.maximumTasks else { throw .tooManyTasks(limit: policy.maximumTasks) }
            threadTotal += task.threads.count
            guard threadTotal <= policy.maximumThreads else { throw .tooManyThreads(limit: policy.maximumThreads) }
            for child in try children(of: task, proc: proc) where !seen.contains(child) {
                queue.append((child, pid))
            }
        }
        // The root is still the process that was checked: criu gets its PID.
        // A child that has exited since (and been reaped) is no longer in
        // the tree criu will freeze; a process forked since is checked by the
        // kernel at the seize and by the post-dump check of its credentials.
        guard tasks[0].pin.isAlive else { throw .vanished(rootPID) }
        return ProcessTree(tasks: tasks.filter { $0.pid == rootPID || $0.pin.isAlive })
    }

    private static func pinAndCheck(pid: Int32, expectedParent: Int32?, proc: ProcFilesystem,
                                    policy: TreePolicy) throws(TreeRefusal) -> PinnedTask? {
        let isRoot = expectedParent == nil
        if policy.excludedPIDs.contains(pid) { throw .containsHelper(pid) }
        let pin: any ProcessPin
        do {
            pin = try proc.pinner(pid)
        } catch {
            if isRoot { throw error.errno == .noSuchProcess ? .noSuchProcess(pid) : .unreadable(pid: pid, what: "\(error)") }
            return nil
        }
        let status: TaskStatus
        let stat: TaskStat
        let threadIDs: [Int32]
        do {
            let dir = try proc.openDirectory("\(pid)")
            // The directory was opened after the pin; if the pin is still alive
            // now, the directory belongs to the pinned process.
            guard pin.isAlive else {
                if isRoot { throw TreeRefusal.noSuchProcess(pid) }
                return nil
            }
            status = try parseStatus(proc.read("\(pid)/status"), pid: pid)
            stat = try parseStat(proc.read("\(pid)/stat"), pid: pid)
            guard status.tgid == pid else { throw TreeRefusal.notAProcess(pid: pid, tgid: status.tgid) }
            if let parent = expectedParent, status.ppid != parent { return nil }
            if stat.isKernelThread || status.kernelThread == true {
                throw TreeRefusal.kernelThread(pid)
            }
            let taskDir = try dir.open("task", [.directory, .noFollow], resolve: [.beneath, .noSymlinks])
            threadIDs = try taskDir.entries().compactMap { Int32($0) }.sorted { a, b in a == pid || (b != pid && a < b) }
        } catch let refusal as TreeRefusal {
            throw refusal
        } catch {
            if !isRoot && !pin.isAlive { return nil }
            throw .unreadable(pid: pid, what: "\(error)")
        }
        try checkCredentials(status, pid: pid, tid: pid, policy: policy)
        if !status.isZombie {
            do {
                try checkAttributes(proc: proc, path: "\(pid)", pid: pid, tid: pid, policy: policy)
            } catch {
                guard !isRoot, hasExited(proc: proc, path: "\(pid)") else { throw error }
                if !pin.isAlive { return nil }
            }
        }
        for tid in threadIDs where tid != pid {
            let threadStatus: TaskStatus
            do {
                threadStatus = try parseStatus(proc.read("\(pid)/task/\(tid)/status"), pid: pid)
            } catch let refusal as TreeRefusal {
                throw refusal
            } catch {
                // A thread that exited since the listing.
                continue
            }
            try checkCredentials(threadStatus, pid: pid, tid: tid, policy: policy)
            if !threadStatus.isZombie {
                do {
                    try checkAttributes(proc: proc, path: "\(pid)/task/\(tid)", pid: pid, tid: tid, policy: policy)
                } catch {
                    guard hasExited(proc: proc, path: "\(pid)/task/\(tid)") else { throw error }
                }
            }
        }
        return PinnedTask(pid: pid, pin: pin, status: status, stat: stat, threads: threadIDs)
    }

    /// A task (or thread) of the tree that ended while it was checked: its
    /// status is gone, or shows a zombie or a task without memory (past
    /// exit_mm, whose /proc files are root's as if it were not dumpable).
    /// It can never run again, so what it was checked for no longer matters;
    /// only a child is let go like this, never the root criu is given.
    private static func hasExited(proc: ProcFilesystem, path: String) -> Bool {
        guard let text = try? proc.read("\(path)/status"), let now = try? TaskStatus.parse(text) else { return true }
        return now.isZombie || !now.hasMemory
    }

    private static func checkCredentials(_ s: TaskStatus, pid: Int32, tid: Int32, policy: TreePolicy) throws(TreeRefusal) {
        for (index, uid) in s.uids.enumerated() where uid != policy.callerUID {
            throw .foreignID(pid: pid, tid: tid, field: TaskStatus.uidNames[index], value: uid, expected: String(policy.callerUID))
        }
        let allowed = policy.callerGroups.sorted().map(String.init).joined(separator: ",")
        for gid in s.gids + s.groups where !policy.callerGroups.contains(gid) {
            throw .foreignGroup(pid: pid, tid: tid, group: gid, allowed: allowed)
        }
        for (name, mask) in [("CapInh", s.capInh), ("CapPrm", s.capPrm), ("CapEff", s.capEff), ("CapAmb", s.capAmb)] where mask != 0 {
            throw .capabilities(pid: pid, tid: tid, set: name, mask: mask)
        }
        if policy.requireNoNewPrivileges && !s.noNewPrivs { throw .noNewPrivileges(pid: pid, tid: tid) }
    }

    /// Dumpable and in the caller's namespaces. /proc/PID/fd is owned by root
    /// rather than the task's uid when the task is not dumpable.
    private static func checkAttributes(proc: ProcFilesystem, path: String, pid: Int32, tid: Int32,
                                        policy: TreePolicy) throws(TreeRefusal) {
        do {
            let fdStatus = try proc.root.status(of: "\(path)/fd")
            guard fdStatus.owner == policy.callerUID else { throw TreeRefusal.notDumpable(pid: pid, tid: tid) }
            guard try proc.namespace("user", of: path) == policy.userNamespace else {
                throw TreeRefusal.otherNamespace(pid: pid, tid: tid, kind: "user")
            }
            guard try proc.namespace("pid", of: path) == policy.pidNamespace else {
                throw TreeRefusal.otherNamespace(pid: pid, tid: tid, kind: "PID")
            }
        } catch let refusal as TreeRefusal {
            throw refusal
        } catch {
            throw .unreadable(pid: pid, what: "\(error)")
        }
    }

    private static func children(of task: PinnedTask, proc: ProcFilesystem) throws(TreeRefusal) -> [Int32] {
        var result: [Int32] = []
        for tid in task.threads {
            guard let text = try? proc.read("\(task.pid)/task/\(tid)/children") else { continue }
            result += text.split(separator: " ").compactMap { Int32($0.trimmingCharacters("\n")) }
        }
        return result
    }

    private static func parseStatus(_ text: String, pid: Int32) throws(TreeRefusal) -> TaskStatus {
        do { return try TaskStatus.parse(text) } catch { throw .unreadable(pid: pid, what: "\(error)") }
    }

    private static func parseStat(_ text: String, pid: Int32) throws(TreeRefusal) -> TaskStat {
        do { return try TaskStat.parse(text) } catch { throw .unreadable(pid: pid, what: "\(error)") }
    }
}
