import AuditLog
import CriuImages
import LinuxSystem
import ProcessTree

extension Session {
    /// `dump --pid PID --images-dir DIR [--leave-running]`: check the tree and
    /// the directory, record the decision, let criu write a new generation,
    /// check the credentials criu recorded, and only then make it the latest.
    public func dump(_ request: DumpRequest, fields: inout [(key: String, value: AuditRecord.Value)]) throws(HelperFailure) -> Outcome {
        let dir = try ImagesDirectory.open(request.imagesDirectory, caller: caller, create: true)
        try dir.lock(timeoutSeconds: config.lockTimeout)
        try dir.checkContents()

        // The job: a PID the caller named, or the one `run`/`restore` recorded.
        let proc: ProcFilesystem
        do { proc = try ProcFilesystem.system() } catch { throw .internalError("/proc: \(error)") }
        var policy = try treePolicy(proc: proc)
        let job: JobLocation
        if let pid = request.pid {
            job = try JobLocation.find(pid, proc: proc, caller: caller, helperNamespace: policy.pidNamespace,
                                       helperExecutable: executable)
        } else if let record = try JobRecord.read(from: dir) {
            job = try JobLocation.fromRecord(record, proc: proc, caller: caller, helperExecutable: executable)
        } else {
            throw .usage("dump needs --pid PID (the images directory has no job started by `criu-helper run`)")
        }
        let pid = job.outerPID
        fields.append(("pid", .trusted(String(pid))))

        // The tree: every task and thread pinned with a pidfd and checked. A
        // job in its own namespaces is checked against those.
        policy.pidNamespace = job.pidNamespace
        let tree: ProcessTree
        do { tree = try ProcessTree.inspect(rootPID: pid, in: proc, policy: policy) } catch {
            throw .refused("\(error)")
        }
        let lock = try TreeLock.acquire(rootPID: pid, startTime: tree.root.stat.startTime, caller: caller)
        defer { lock.release() }

        let criu = try openCriu()
        let generation = try dir.nextGeneration()
        fields.append(("generation", .trusted(generation.name)))

        // The decision is on record before anything is written (fail closed).
        try record(AuditRecord(operation: "dump", success: true, fields: fields + [("decision", .trusted("allowed"))]))
        try dir.beginGeneration(generation)
        let genDir = try dir.openGeneration(generation.partialName)
        JobLog.append("dump pid=\(pid) generation=\(generation.name): allowed (\(tree.tasks.count) tasks, \(tree.threadCount) threads)", in: dir.fd)

        let invocation = CriuInvocation.dump(pid: job.innerPID, shellJob: tree.needsShellJob, leaveRunning: request.leaveRunning)
        let placement: CriuRunner.Placement = job.reaper == nil ? .host : .insideNamespaces(of: job)
        let started = Kernel.monotonicNanoseconds
        let status = try withCapabilities { (caps) throws(HelperFailure) in
            try CriuRunner().run(invocation, criu: criu, imagesDirectory: genDir.rawValue, capabilities: caps, placement: placement)
        }
        let elapsed = Kernel.monotonicNanoseconds - started
        guard status.succeeded else {
            // criu lets the tasks run on when it fails; SIGCONT makes sure.
            if !request.leaveRunning { tree.signalAll(18 /* SIGCONT */) }
            dir.markFailed(generation)
            let log = dir.shown(generation.failedName + "/" + invocation.logName)
            JobLog.append("dump pid=\(pid) generation=\(generation.name): criu failed (\(status)); log \(log)", in: dir.fd)
            throw .criuFailed("criu dump failed (\(status)); its log: \(log)")
        }

        // What criu recorded must be what was checked: a task that ran a
        // set-user-ID program or a reused PID between the check and the freeze
        // shows here, and its images are deleted.
        let counts: (processes: Int, threads: Int)
        do {
            counts = try imageValidator.checkDumpedCredentials { (name) throws(ImageError) in try Session.readImage(genDir, name) }
        } catch {
            dir.discard(generation.partialName)
            // criu left the tasks stopped: the job goes on, uncheckpointed.
            if !request.leaveRunning { tree.signalAll(18 /* SIGCONT */) }
            JobLog.append("dump pid=\(pid) generation=\(generation.name): images deleted: \(error)", in: dir.fd)
            throw .refused("the dumped images do not match the caller: \(error); they were deleted")
        }
        try dir.commit(generation)
        dir.prune(keep: request.keep ?? config.keep)
        // The checkpoint is safe: now the job ends (criu left it stopped).
        // A job in its own namespaces ends with its reaper, which takes every
        // task in there along; a host tree gets SIGKILL task by task, through
        // the pidfds of the check (stopped tasks cannot fork meanwhile).
        if !request.leaveRunning {
            if let reaper = job.reaper { reaper.kill() } else { tree.signalAll(9 /* SIGKILL */) }
        }

        let stats = try? DumpStatistics(Session.readImage(dir.openGeneration(generation.name), "stats-dump"))
        let bytes = Self.totalSize(of: dir, generation: generation.name)
        var summary = "dumped \(counts.processes) task\(counts.processes == 1 ? "" : "s") (\(counts.threads) thread\(counts.threads == 1 ? "" : "s")) into \(dir.shown(generation.name)): \(Self.formatBytes(bytes)) written"
        if let stats { summary += ", frozen \(Self.formatMicroseconds(UInt64(stats.frozenTime)))" }
        summary += ", \(Self.formatMicroseconds(elapsed / 1000)) in all"
        fields.append(("tasks", .trusted(String(counts.processes))))
        fields.append(("bytes", .trusted(String(bytes))))
        JobLog.append("dump pid=\(pid) generation=\(generation.name): done, \(summary)", in: dir.fd)
        return Outcome(summary: summary, auditFields: fields)
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
