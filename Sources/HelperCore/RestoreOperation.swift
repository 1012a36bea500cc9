import AuditLog
import CriuImages
import LinuxSystem
import ProcessTree

extension Session {
    /// `restore --images-dir DIR [--generation gN] [--wait]`: copy the
    /// generation's images into a private tmpfs, validate the copy, let criu
    /// restore it into fresh PID and mount namespaces with every task left
    /// stopped, read back from /proc what the kernel restored, and only then
    /// let the job run.
    public func restore(_ request: RestoreRequest, fields: inout [(key: String, value: AuditRecord.Value)]) throws(HelperFailure) -> Outcome {
        let dir = try ImagesDirectory.open(request.imagesDirectory, caller: caller, create: false)
        try dir.lock(timeoutSeconds: config.lockTimeout)
        try dir.checkContents()
        let generation: String
        if let named = request.generation {
            generation = named
        } else {
            guard let latest = try dir.goodGenerations().last else {
                throw .refused("\(RequestParser.shown(request.imagesDirectory)) holds no good checkpoint generation")
            }
            generation = latest.name
        }
        fields.append(("generation", .trusted(generation)))
        let source = try dir.openGeneration(generation)
        try ImagesDirectory.checkEntries(of: source, shownPath: dir.shown(generation), caller: caller, allowDirectories: false)
        guard let sourcePath = source.currentPath(), sourcePath.hasPrefix("/") else {
            throw .internalError("cannot name the generation directory")
        }

        // 1. The private copy, and the validation of that copy.
        let staging = try RestoreStaging.prepare(from: source, sourcePath: sourcePath, caller: caller, session: self)
        let summary: ImageValidator.Summary
        do {
            summary = try imageValidator.validateForRestore(names: staging.names) { (name) throws(ImageError) in try staging.read(name) }
        } catch {
            throw .refused("\(dir.shown(generation)): \(error)")
        }
        let terminal = summary.needsShellJob && staging.names.contains("tty-info.img")
        fields.append(("pid-inside", .trusted(String(summary.root.pid))))

        let criu = try openCriu()
        try record(AuditRecord(operation: "restore", success: true, fields: fields + [("decision", .trusted("allowed"))]))
        JobLog.append("restore generation=\(generation): allowed (\(summary.processes.count) tasks, root pid \(summary.root.pid))", in: dir.fd)

        // 2. criu restores inside fresh PID and mount namespaces, whose init
        //    is the helper's reaper: the restored PIDs cannot clash with
        //    anything, and if anything below fails, killing the reaper ends
        //    every restored task with it.
        let invocation = CriuInvocation.restore(shellJob: summary.needsShellJob, terminal: terminal)
        let highest = (summary.processes.map(\.pid) + summary.processes.flatMap(\.threads)).max() ?? 300
        let namespace = try startCriuInNamespaces(invocation, criu: criu, staging: staging, lastPID: Int32(min(highest, UInt32(pidMax - 2))))
        let criuCode: Int32
        do { criuCode = try namespace.criuExitCode() } catch { criuCode = -1 }
        Self.copyLog(from: staging.root, name: invocation.logName, to: source)
        guard criuCode == 0 else {
            namespace.decide(go: false)
            _ = Spawn.waitForwarding(namespace.reaper, forwardTo: -1)
            let log = dir.shown(generation + "/" + invocation.logName)
            JobLog.append("restore generation=\(generation): criu failed (exit status \(criuCode)); log \(log)", in: dir.fd)
            throw .criuFailed("criu restore failed (exit status \(criuCode)); its log: \(log)")
        }

        // 3. What the kernel restored, before any of it runs.
        let proc: ProcFilesystem
        do { proc = try ProcFilesystem.system() } catch { throw .internalError("/proc: \(error)") }
        let expected = summary.processes.map { RestoredTree.Expected(pid: Int32($0.pid), threads: $0.threads.map { Int32($0) }) }
        let restored: RestoredTree
        switch RestoredTree.verify(expected, below: namespace.reaper, in: proc, callerUID: caller.uid, callerGroups: caller.groups) {
        case .passed(let tree):
            restored = tree
        case .failed(let failure):
            namespace.decide(go: false)
            failure.killAll()
            _ = Spawn.waitForwarding(namespace.reaper, forwardTo: -1)
            JobLog.append("restore generation=\(generation): killed, \(failure.reason)", in: dir.fd)
            throw .refused("\(failure.reason); everything restored was killed")
        }
        let rootInside = Int32(summary.root.pid)
        guard let rootOutside = restored.outerPIDs[rootInside] else { throw .internalError("restored root not found") }
        namespace.decide(go: true, root: rootInside, detach: !request.wait)
        do { try restored.resume() } catch { throw .internalError("cannot resume the job: \(error)") }

        let reaperStart = (try? TaskStat.parse(try proc.read("\(namespace.reaper)/stat")))?.startTime ?? 0
        // Without the record, later requests need --pid; the job itself is fine.
        do {
            try JobRecord(reaperPID: namespace.reaper, reaperStartTime: reaperStart, rootInnerPID: rootInside,
                          command: "restored from \(generation)").write(to: dir)
        } catch {
            Kernel.writeError("criu-helper: warning: \(error.message); later requests need --pid \(rootOutside)\n")
        }
        fields.append(("pid", .trusted(String(rootOutside))))
        JobLog.append("restore generation=\(generation): done, root pid \(rootOutside) (\(rootInside) inside its namespace)", in: dir.fd)
        let summaryLine = "restored \(summary.processes.count) task\(summary.processes.count == 1 ? "" : "s") from \(dir.shown(generation)), root pid \(rootOutside)"
        guard request.wait else {
            return Outcome(summary: summaryLine, output: [String(rootOutside)], auditFields: fields)
        }
        // --wait: stay with the job like `run` does. The lock was for the
        // restore; a checkpoint of the job takes it again (as under `run`).
        Kernel.writeError("criu-helper: \(summaryLine)\n")
        Kernel.writeOutput("\(rootOutside)\n")
        dir.unlock()
        try dropAllCapabilities()
        let status = waitForJob(reaper: namespace.reaper, root: rootOutside)
        JobLog.append("restore generation=\(generation): job ended (\(status))", in: dir.fd)
        fields.append(("job-status", .trusted(String(status.shellCode))))
        return Outcome(code: .done, jobStatus: status, auditFields: fields)
    }

    /// Clones the reaper into new PID and mount namespaces and has it start
    /// criu there. CAP_SYS_ADMIN (mount /proc) and CAP_CHECKPOINT_RESTORE
    /// (ns_last_pid) are effective for the clone only; criu gets its own
    /// capabilities as ambient ones, through the inheritable set.
    func startCriuInNamespaces(_ invocation: CriuInvocation, criu: borrowing FileDescriptor,
                               staging: RestoreStaging, lastPID: Int32) throws(HelperFailure) -> JobNamespace {
        let null: FileDescriptor
        do { null = try FileDescriptor.open("/dev/null", .readWrite) } catch { throw .internalError("/dev/null: \(error.errno)") }
        let criuFD = criu.rawValue
        let nullFD = null.rawValue
        let stagingFD = staging.root.rawValue
        return try withCapabilities { (caps) throws(HelperFailure) -> JobNamespace in
            do { try caps.makeInheritable(invocation.capabilities) } catch { throw .internalError("\(error)") }
            defer { caps.clearInheritable() }
            let started: Result<JobNamespace, SystemError> = caps.withEffective([.sysAdmin, .checkpointRestore]) {
                do throws(SystemError) {
                    return .success(try JobNamespace.startCriu(
                        program: criuFD, arguments: invocation.arguments, environment: CriuInvocation.environment,
                        ambient: invocation.capabilities.numbers, passed: [stagingFD], stdio: (nullFD, 2, 2), lastPID: lastPID))
                } catch { return .failure(error) }
            }
            return try started.mapError { HelperFailure.unavailable("cannot start criu in new namespaces: \($0)") }.get()
        }
    }

    /// Waits for a job's reaper, forwarding SIGTERM, SIGINT and SIGHUP to the
    /// job's root. The reaper exits with the root's status.
    func waitForJob(reaper: Int32, root: Int32) -> ExitStatus {
        var status: ExitStatus
        if let target = try? PidFD(pid: root) {
            status = Spawn.waitForwarding(reaper, forwardTo: target.rawValue) ?? .exited(255)
        } else {
            status = Spawn.waitForwarding(reaper, forwardTo: -1) ?? .exited(255)
        }
        // The reaper passes the job's status on as an exit code (128 + signal).
        if case .exited(let code) = status, code > 128, code < 128 + 65 { return .signaled(code - 128) }
        return status
    }

    /// Puts criu's log next to the images, where the job's author reads it.
    static func copyLog(from staging: borrowing FileDescriptor, name: String, to generation: borrowing FileDescriptor) {
        guard let input = try? staging.open(name, [.noFollow], resolve: [.noSymlinks, .beneath]),
              let output = try? generation.open(name, [.writeOnly, .create, .truncate, .noFollow], mode: 0o600,
                                                resolve: [.noSymlinks, .beneath]),
              (try? output.status().linkCount) == 1 else { return }
        _ = try? output.copyContents(from: input)
    }
}
