import Credentials
import LinuxSystem

/// A process tree that has passed the ownership check: every process and
/// every thread in it has the caller's credentials (CredentialRule), is
/// dumpable, and lives in the helper's user namespace and in the PID and
/// mount (and network) namespaces criu will run in.
public final class ProcessTree {
    public let root: PinnedTask
    /// Every process, the root first, parents before children.
    public let tasks: [PinnedTask]

    public var threadCount: Int { tasks.reduce(0) { $0 + $1.threads.count } }

    /// criu needs --shell-job when the root's session or process group
    /// leader is outside the tree.
    public var needsShellJob: Bool {
        let pids = Set(tasks.map(\.pid))
        return tasks.contains { !pids.contains($0.status.session) || !pids.contains($0.status.processGroup) }
    }

    /// Sends `signal` to every pinned process (pidfds: never a successor).
    public func signalAll(_ signal: Signal) {
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
        var next = 0
        var seen: Set<Int32> = []
        // A task that ends during the walk hands its children to a
        // subreaper, possibly one whose children were already listed; a
        // child found under another parent than the one that listed it has
        // moved. Either way a task may now sit under a checked one without
        // having been listed: once anything ended or moved, every checked
        // task still alive is listed again, until a pass finds nothing new.
        var changed = false
        var passes = 0
        // A task is found again only under another parent: one that was
        // let go under a parent (it ended, or had moved) never moves back.
        var droppedUnder: [Int32: Int32] = [:]
        while true {
            while next < queue.count {
                let (pid, parent) = queue[next]
                next += 1
                guard !seen.contains(pid) else { continue }
                guard let task = try pinAndCheck(pid: pid, expectedParent: parent, proc: proc, policy: policy) else {
                    // A child that exited (or whose PID now belongs to another
                    // parent) between the listing and the pin: not under this
                    // parent; the next pass finds it if it moved within the tree.
                    changed = true
                    if let parent { droppedUnder[pid] = parent }
                    continue
                }
                seen.insert(pid)
                tasks.append(task)
                guard tasks.count <= policy.maximumTasks else { throw .tooManyTasks(limit: policy.maximumTasks) }
                threadTotal += task.threads.count
                guard threadTotal <= policy.maximumThreads else { throw .tooManyThreads(limit: policy.maximumThreads) }
                for child in task.children where !seen.contains(child) {
                    queue.append((child, pid))
                }
            }
            if !changed && tasks.allSatisfy({ $0.pin.isAlive }) { break }
            passes += 1
            guard passes <= 16 else { throw .keptChanging(root: rootPID) }
            changed = false
            let before = queue.count
            for task in tasks where task.pin.isAlive {
                let children: [Int32]
                do { children = try proc.children(of: task.pid) } catch {
                    throw .unreadable(pid: task.pid, what: "its children: \(error)")
                }
                // Read after the pin was alive: if it still is, they are its children.
                guard task.pin.isAlive else { changed = true; continue }
                for child in children where !seen.contains(child) && droppedUnder[child] != task.pid {
                    queue.append((child, task.pid))
                }
            }
            if queue.count == before && !changed { break }
        }
        // The root is still the process that was checked: criu gets its PID.
        // A child that has exited since (and been reaped) is no longer in
        // the tree criu will freeze; a process forked since is checked by the
        // kernel at the seize and by the post-dump check of the images.
        guard tasks[0].pin.isAlive else { throw .vanished(rootPID) }
        return ProcessTree(tasks: tasks.filter { $0.pid == rootPID || $0.pin.isAlive })
    }

    private static func pinAndCheck(pid: Int32, expectedParent: Int32?, proc: ProcFilesystem,
                                    policy: TreePolicy) throws(TreeRefusal) -> PinnedTask? {
        let isRoot = expectedParent == nil
        if policy.excludedPIDs.contains(pid) { throw .containsHelper(pid) }
        let pin: any ProcessPin
        do {
            pin = try proc.pin(pid)
        } catch {
            if isRoot { throw error.errno == .noSuchProcess ? .noSuchProcess(pid) : .unreadable(pid: pid, what: "\(error)") }
            // A child that was reaped since the listing (ESRCH), or whose PID
            // now names another process's thread (EINVAL: listed children
            // are thread-group leaders), is gone. Anything else (no
            // descriptor left under a limit the caller lowered) refuses: a
            // subtree is never skipped unchecked.
            guard error.errno == .noSuchProcess || error.errno == .invalidArgument else {
                throw .unreadable(pid: pid, what: "\(error)")
            }
            return nil
        }
        // Opened and read after the pin; if the pin is alive afterwards,
        // what was read belongs to the pinned process (a live process keeps
        // its PID, and the directory's descriptor names one task for good).
        let process: FileDescriptor
        do { process = try proc.openTask("\(pid)") } catch {
            if !isRoot && !pin.isAlive { return nil }
            throw isRoot && !pin.isAlive ? .noSuchProcess(pid) : .unreadable(pid: pid, what: "\(error)")
        }
        let status: TaskStatus
        let threads: [Int32]
        do {
            status = try proc.status(in: process)
            guard pin.isAlive else {
                if isRoot { throw TreeRefusal.noSuchProcess(pid) }
                return nil
            }
            guard status.tgid == pid else { throw TreeRefusal.notAProcess(pid: pid, tgid: status.tgid) }
            if let parent = expectedParent, status.ppid != parent { return nil }
            if status.kernelThread == true { throw TreeRefusal.kernelThread(pid) }
            // One thread (the status says so): no need to list the task directory.
            threads = status.threadCount == 1 ? [pid] : try proc.threads(of: pid)
        } catch let refusal as TreeRefusal {
            throw refusal
        } catch {
            if !isRoot && !pin.isAlive { return nil }
            throw .unreadable(pid: pid, what: "\(error)")
        }
        try check(status, of: process, pid: pid, tid: pid, isRoot: isRoot, proc: proc, policy: policy)
        for tid in threads where tid != pid {
            try checkThread(tid, of: pid, isRoot: isRoot, proc: proc, policy: policy)
        }
        let children: [Int32]
        do { children = try proc.children(in: process, threads: threads) } catch {
            throw .unreadable(pid: pid, what: "its children: \(error)")
        }
        return PinnedTask(pid: pid, pin: pin, status: status, threads: threads, children: children)
    }

    /// A thread other than the main one. One that exited since the listing
    /// is let go; any other failure to read it (a descriptor limit the
    /// caller lowered, say) is a refusal, never a thread skipped.
    private static func checkThread(_ tid: Int32, of pid: Int32, isRoot: Bool, proc: ProcFilesystem,
                                    policy: TreePolicy) throws(TreeRefusal) {
        let thread: FileDescriptor
        do { thread = try proc.openTask("\(pid)/task/\(tid)") } catch {
            if error.errno == .noSuchFileOrDirectory || error.errno == .noSuchProcess { return }
            throw .unreadable(pid: pid, what: "thread \(tid): \(error)")
        }
        let status: TaskStatus
        do { status = try proc.status(in: thread) } catch {
            if let error = error as? SystemError, error.errno == .noSuchFileOrDirectory || error.errno == .noSuchProcess { return }
            throw .unreadable(pid: pid, what: "thread \(tid): \(error)")
        }
        try check(status, of: thread, pid: pid, tid: tid, isRoot: isRoot, proc: proc, policy: policy)
    }

    /// The credential rule, then dumpability and namespaces. A child (never
    /// the root) that ends while it is checked is let go: past exit_mm its
    /// /proc files are root's as if it were not dumpable, and it can never
    /// run again.
    private static func check(_ status: TaskStatus, of task: borrowing FileDescriptor, pid: Int32, tid: Int32, isRoot: Bool,
                              proc: ProcFilesystem, policy: TreePolicy) throws(TreeRefusal) {
        if let violation = policy.rule.violation(status.credentials, subject: TreeRefusal.who(pid, tid)) {
            throw .credentials(violation)
        }
        guard !status.isZombie else { return }
        do {
            try checkAttributes(of: task, proc: proc, pid: pid, tid: tid, policy: policy)
        } catch {
            guard !isRoot, hasExited(task, proc: proc) else { throw error }
        }
    }

    private static func hasExited(_ task: borrowing FileDescriptor, proc: ProcFilesystem) -> Bool {
        let now: TaskStatus
        do { now = try proc.status(in: task) } catch {
            // Reaped (ESRCH); any other failure is no proof that it ended.
            return (error as? SystemError).map { $0.errno == .noSuchProcess || $0.errno == .noSuchFileOrDirectory } ?? false
        }
        return now.isZombie || !now.hasMemory
    }

    /// Dumpable and in the expected namespaces. /proc/PID/fd is owned by root
    /// rather than the task's uid when the task is not dumpable.
    private static func checkAttributes(of task: borrowing FileDescriptor, proc: ProcFilesystem, pid: Int32, tid: Int32,
                                        policy: TreePolicy) throws(TreeRefusal) {
        do {
            let fdStatus = try task.status(of: "fd")
            guard fdStatus.owner == policy.rule.uid else { throw TreeRefusal.notDumpable(pid: pid, tid: tid) }
            for (kind, expected) in [(NamespaceFile.Kind.user, policy.userNamespace), (.pid, policy.pidNamespace),
                                     (.mount, policy.mountNamespace), (.network, policy.networkNamespace)] {
                guard try proc.namespace(kind, in: task) == expected else {
                    throw TreeRefusal.otherNamespace(pid: pid, tid: tid, kind: kind.description)
                }
            }
        } catch let refusal as TreeRefusal {
            throw refusal
        } catch {
            throw .unreadable(pid: pid, what: "\(error)")
        }
    }
}
