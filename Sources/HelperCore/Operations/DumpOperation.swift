import AuditLog
import CriuImages
import LinuxSystem
import Privilege
import ProcessTree

extension Session {
    /// `dump [--pid PID] --images-dir DIR [--leave-running]`: check the
    /// directory, the job's namespaces and the tree, put the decision on
    /// record, let criu write a new generation, check that generation as a
    /// restore would, and only then make it the latest — and only then end
    /// the job.
    public func dump(_ request: DumpRequest, fields: inout [(key: String, value: AuditRecord.Value)]) throws(HelperFailure) -> Outcome {
        let dir = try ImagesDirectory.open(request.imagesDirectory, caller: caller, create: true)
        try dir.lock(timeoutSeconds: config.lockTimeout)
        try dir.checkContents()

        // The job: a PID the caller named, or the one `run`/`restore` recorded.
        let proc: ProcFilesystem
        do { proc = try ProcFilesystem.system() } catch { throw .internalError("/proc: \(error)") }
        let helper = try JobLocation.HelperNamespaces.read(proc)
        let job: JobLocation
        if let pid = request.pid {
            job = try JobLocation.find(pid, proc: proc, helper: helper, caller: caller)
        } else if let record = try JobRecord.read(from: dir) {
            job = try JobLocation.fromRecord(record, proc: proc, helper: helper, caller: caller)
        } else {
            throw .usage("dump needs --pid PID (the images directory has no job started by `criu-helper run`)")
        }
        let pid = job.outerPID
        fields.append(("pid", .trusted(String(pid))))
        let privateNetwork = job.hasPrivateNetwork(helper)
        if privateNetwork { fields.append(("network", .trusted("private"))) }

        // The tree: every task and thread pinned with a pidfd and checked,
        // in the namespaces criu will run in.
        let policy = TreePolicy(rule: rule, excludedPIDs: proc.ancestry(of: Kernel.processID), userNamespace: helper.user,
                                pidNamespace: job.pidNamespace, mountNamespace: job.mountNamespace,
                                networkNamespace: job.networkNamespace, maximumTasks: config.maximumTasks, maximumThreads: config.maximumThreads)
        let tree: ProcessTree
        let checkStarted = Kernel.monotonicNanoseconds
        do { tree = try ProcessTree.inspect(rootPID: pid, in: proc, policy: policy) } catch {
            throw .refused("\(error)")
        }
        let checkTime = Kernel.monotonicNanoseconds - checkStarted
        // What restore would refuse is refused before criu freezes anything.
        if config.multiThreaded == .refuse, let threaded = tree.tasks.first(where: { $0.threads.count > 1 }) {
            throw .refused(ImageValidator.multiThreadedRefusal(pid: Int64(threaded.pid), threads: threaded.threads.count))
        }
        // Held until this function returns (the lock dies with its descriptor).
        let treeLock = try TreeLock.acquire(root: pid, in: proc)

        let criu = try openCriu()
        let generation = try dir.nextGeneration()
        fields.append(("generation", .trusted(generation.name)))

        // The decision is on record before anything is written (fail closed).
        try recordAllowed("dump", fields)
        try dir.beginGeneration(generation)
        let genDir = try dir.openGeneration(generation.partialName)
        JobLog.append("dump pid=\(pid) generation=\(generation.name): allowed (\(tree.tasks.count) tasks, \(tree.threadCount) threads, tree checked in \(checkTime / 1000) µs)", in: dir.fd)

        let invocation = CriuInvocation.dump(pid: job.innerPID, shellJob: tree.needsShellJob, leaveRunning: request.leaveRunning,
                                             ghostLimit: config.ghostLimit)
        let started = Kernel.monotonicNanoseconds
        let ending = try runCriu(invocation, criu: criu, imagesDirectory: genDir, job: job, tree: tree)
        let elapsed = Kernel.monotonicNanoseconds - started
        guard let status = ending.status, status.succeeded else {
            let what = ending.status.map { "\($0)" }
                ?? ending.stall.map { "stalled: nothing of the dump ran for \(Self.stallSeconds) s (\($0)): criu or a task it holds was stopped by a signal sent with your uid, such as SIGSTOP; criu was killed" }
                ?? "did not finish within criu-timeout = \(config.criuTimeout) s and was killed"
            // criu lets the tasks run on when it fails; SIGCONT makes sure.
            if !request.leaveRunning { tree.signalAll(.continue) }
            dir.markFailed(generation)
            let log = dir.shown(generation.failedName + "/" + invocation.logName)
            var message = "criu dump failed (\(what)); its log: \(log)"
            if ending.jobEnded || ending.leftInJob || Self.criuLeftWork(in: tree, proc: proc) != nil {
                // criu was killed while its parasite, or the instructions it
                // runs a task's system calls with, were in the job, or while
                // a thread stood in the parasite's unmapped code: the job
                // would die of SIGTRAP or SIGSEGV or never be dumped again.
                job.end(tree)
                message += "; criu was stopped with its work still in the job (its parasite, the instructions it runs the job's system calls with, or a thread left in the parasite's unmapped code), so the job was ended: restore the previous generation"
            }
            JobLog.append("dump pid=\(pid) generation=\(generation.name): \(message)", in: dir.fd)
            throw .criuFailed(message)
        }

        // What criu wrote must restore, here, before the job may end: every
        // thread's credentials the caller's (a task that ran a set-user-ID
        // program or a reused PID between the check and the freeze shows
        // here), every image one this installation restores, and all of it
        // small enough for a restore's private copy.
        let summary: ImageValidator.Summary
        do {
            _ = try PrivateCopy.Plan.make(from: genDir, caller: caller)
            let names: [String]
            do { names = try genDir.entries() } catch { throw HelperFailure.internalError("cannot list \(generation.partialName): \(error.errno)") }
            summary = try imageValidator.validate(names: names, read: { (name) throws(ImageError) in try Session.readImage(genDir, name) },
                                                  inspector: LivePaths.inspect)
        } catch {
            dir.discard(generation.partialName)
            // criu left the tasks stopped: the job goes on, uncheckpointed.
            if !request.leaveRunning { tree.signalAll(.continue) }
            let reason = (error as? HelperFailure)?.message ?? "\(error)"
            JobLog.append("dump pid=\(pid) generation=\(generation.name): images deleted, not restorable: \(reason)", in: dir.fd)
            throw .refused("the dumped images could not be restored: \(reason); they were deleted and the job goes on")
        }
        // Restore puts the job back into a network of its own (JobNetwork).
        if privateNetwork {
            do { try JobNetwork.recordPrivate(in: genDir) } catch {
                dir.discard(generation.partialName)
                if !request.leaveRunning { tree.signalAll(.continue) }
                throw error
            }
        }
        try dir.commit(generation)
        if request.leaveRunning { dir.markRanAfter(generation.name) }
        dir.prune(keep: request.keep ?? config.keep)
        // The checkpoint is safe: now the job ends (criu left it stopped).
        if !request.leaveRunning { job.end(tree) }

        let threads = summary.threadCount
        let processes = summary.processes.count
        let stats = try? DumpStatistics(Session.readImage(dir.openGeneration(generation.name), "stats-dump"))
        let bytes = Self.totalSize(of: dir, generation: generation.name)
        var text = "dumped \(processes) task\(processes == 1 ? "" : "s") (\(threads) thread\(threads == 1 ? "" : "s")) into \(dir.shown(generation.name)): \(Self.formatBytes(bytes)) written"
        if let stats { text += ", frozen \(Self.formatMicroseconds(UInt64(stats.frozenTime)))" }
        text += ", \(Self.formatMicroseconds(elapsed / 1000)) in all"
        JobLog.append("dump pid=\(pid) generation=\(generation.name): done, \(text)", in: dir.fd)
        _ = consume treeLock
        return Outcome(summary: text)
    }

    /// criu for a dump: in the job's verified namespaces or the helper's own,
    /// under a supervisor that ends everything criu leaves behind.
    func runCriu(_ invocation: CriuInvocation, criu: borrowing FileDescriptor, imagesDirectory: borrowing FileDescriptor,
                 job: JobLocation, tree: ProcessTree) throws(HelperFailure) -> CriuSupervisor.Ending {
        let child = invocation.child
        let supervisor = try withPrivileges { (privileges) throws(HelperFailure) -> CriuSupervisor in
            do {
                if let namespaces = job.namespaces {
                    guard let reaper = job.reaper else { throw HelperFailure.internalError("a job in namespaces without its reaper") }
                    return try privileges.startCriu(child, program: criu, passing: imagesDirectory,
                                                    entering: namespaces.mount, namespaces.pid, namespaces.network,
                                                    reaper: reaper.pidfd)
                }
                return try privileges.startCriu(child, program: criu, passing: imagesDirectory)
            } catch let failure as HelperFailure {
                throw failure
            } catch {
                throw .unavailable("cannot start criu: \(error)")
            }
        }
        // The caller can stop criu (SIGSTOP) once it has frozen the job:
        // nothing of the dump runs then, and it would wait, with the job
        // frozen, until criu-timeout (StallWatch).
        let criuPID = supervisor.criu
        var watch = (try? ProcFilesystem.system()).map { proc in
            StallWatch(proc: proc, criu: { criuPID }, alsoWatching: tree.tasks.map(\.pid),
                       windowNanoseconds: UInt64(Self.stallSeconds) * 1_000_000_000)
        }
        let proc = try? ProcFilesystem.system()
        return supervisor.wait(milliseconds: criuTimeoutMilliseconds,
                               stalled: { watch?.stalled(now: Kernel.monotonicNanoseconds) },
                               leftInJob: {
                                   // Asked once criu was sent SIGSTOP: what it
                                   // left is read once it stands still.
                                   guard let proc else { return false }
                                   Self.waitStopped(criuPID, proc: proc)
                                   return Self.criuLeftWork(in: tree, proc: proc) != nil
                               })
    }

    /// What criu left in a live task of the tree (its parasite, its
    /// system-call instructions, a thread stranded outside its code), if anything.
    static func criuLeftWork(in tree: ProcessTree, proc: ProcFilesystem) -> CriuLeftover? {
        for task in tree.tasks where task.pin.isAlive {
            if let left = CriuLeftover.find(in: task.pid, proc: proc.root), task.pin.isAlive { return left }
        }
        return nil
    }

    /// Until `pid` is stopped or gone, for at most a second (a SIGSTOP takes
    /// effect when the process next runs).
    static func waitStopped(_ pid: Int32, proc: ProcFilesystem) {
        let deadline = Kernel.monotonicNanoseconds + 1_000_000_000
        while Kernel.monotonicNanoseconds < deadline {
            guard let stat = try? TaskStat.parse(try proc.read("\(pid)/stat", limit: 4096)),
                  stat.state != "T" && stat.state != "t" else { return }
            Kernel.sleep(nanoseconds: 1_000_000)
        }
    }

    static func totalSize(of dir: ImagesDirectory, generation: String) -> Int64 {
        guard let gen = try? dir.openGeneration(generation), let names = try? gen.entries() else { return 0 }
        return names.reduce(Int64(0)) { sum, name in
            guard name.hasSuffix(".img"), let st = try? gen.status(of: name), st.isRegularFile else { return sum }
            return sum + st.size
        }
    }

    static func formatBytes(_ n: Int64) -> String {
        if n < 1024 { return "\(n) B" }
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var value = Double(n) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return "\(Self.oneDecimal(value)) \(units[unit])"
    }

    static func formatMicroseconds(_ us: UInt64) -> String {
        if us < 1000 { return "\(us) µs" }
        if us < 10_000_000 { return "\(us / 1000) ms" }
        return "\(Self.oneDecimal(Double(us) / 1_000_000)) s"
    }

    static func oneDecimal(_ v: Double) -> String {
        let tenths = Int((v * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
