import AuditLog
import LinuxSystem
import ProcessTree

extension Session {
    /// `run [--images-dir DIR] [--checkpoint-every S] -- CMD...`: starts CMD
    /// as a checkpointable job — in new PID and mount namespaces under the
    /// helper's reaper, in its own session, stdio without a terminal,
    /// no_new_privs, no capabilities, as the caller — and stays in the
    /// foreground: forwards SIGTERM, SIGINT and SIGHUP, and exits with the
    /// job's status. With --checkpoint-every it dumps the job periodically
    /// (leaving it running); otherwise it gives up every capability at once.
    public func run(_ request: RunRequest, fields: inout [(key: String, value: AuditRecord.Value)]) throws(HelperFailure) -> Outcome {
        var dir: ImagesDirectory? = nil
        if let path = request.imagesDirectory {
            let opened = try ImagesDirectory.open(path, caller: caller, create: true)
            try opened.lock(timeoutSeconds: config.lockTimeout)
            try opened.checkContents()
            dir = opened
        }
        try record(AuditRecord(operation: "run", success: true, fields: fields + [("decision", .trusted("allowed"))]))

        let environment = callerEnvironment
        let namespace = try withCapabilities { (caps) throws(HelperFailure) -> JobNamespace in
            let started: Result<JobNamespace, SystemError> = caps.withEffective([.sysAdmin, .checkpointRestore]) {
                do throws(SystemError) { return .success(try JobNamespace.startJob(arguments: request.command, environment: environment)) }
                catch { return .failure(error) }
            }
            return try started.mapError { HelperFailure.unavailable("cannot start the job: \($0)") }.get()
        }
        let proc: ProcFilesystem
        do { proc = try ProcFilesystem.system() } catch { throw .internalError("/proc: \(error)") }
        let jobPID = proc.children(of: namespace.reaper).first ?? -1
        fields.append(("pid", .trusted(String(jobPID))))
        if let dir {
            let start = (try? TaskStat.parse(try proc.read("\(namespace.reaper)/stat")))?.startTime ?? 0
            try JobRecord(reaperPID: namespace.reaper, reaperStartTime: start, rootInnerPID: namespace.childInside,
                          command: request.command.joined(separator: " ")).write(to: dir)
            JobLog.append("run: started pid \(jobPID) (\(namespace.childInside) inside its namespace): \(request.command.joined(separator: " "))", in: dir.fd)
            // The lock was for starting; checkpoints take it again each time.
            dir.unlock()
        }

        var status: ExitStatus
        if let every = request.checkpointEvery, let path = request.imagesDirectory {
            status = runWithCheckpoints(reaper: namespace.reaper, job: jobPID, every: every, imagesDirectory: path, keep: request.keep)
        } else {
            // Nothing privileged is left to do: the helper becomes an ordinary
            // process of the caller's that waits.
            try dropAllCapabilities()
            status = waitForJob(reaper: namespace.reaper, root: jobPID)
        }
        if let path = request.imagesDirectory, let dir = try? ImagesDirectory.open(path, caller: caller, create: false) {
            JobLog.append("run: job \(jobPID) ended (\(status))", in: dir.fd)
        }
        fields.append(("job-status", .trusted(String(status.shellCode))))
        return Outcome(jobStatus: status, auditFields: fields)
    }

    /// Waits in slices of `every` seconds; after each, dumps the job with
    /// --leave-running into a new generation. A failed checkpoint is reported
    /// and audited; the job goes on, and the previous generation stays.
    func runWithCheckpoints(reaper: Int32, job: Int32, every: Int, imagesDirectory: String, keep: Int?) -> ExitStatus {
        // The job's pidfd, kept open for the whole wait (signals go to the job,
        // never to a later process with its PID).
        let forward = (try? FileDescriptor.pidfd(job)) ?? -1
        defer { if forward >= 0 { FileDescriptor.closeRaw(forward) } }
        while true {
            if let status = Spawn.waitForwarding(reaper, forwardTo: forward, timeoutMilliseconds: every * 1000) {
                if case .exited(let code) = status, code > 128, code < 128 + 65 { return .signaled(code - 128) }
                return status
            }
            var dumpFields: [(key: String, value: AuditRecord.Value)] = [("images-dir", .untrusted(imagesDirectory)),
                                                                         ("periodic", .trusted("yes"))]
            do {
                let outcome = try dump(DumpRequest(pid: nil, imagesDirectory: imagesDirectory, leaveRunning: true, keep: keep),
                                       fields: &dumpFields)
                try? record(AuditRecord(operation: "dump", success: true, fields: outcome.auditFields))
                Kernel.writeError("criu-helper: \(outcome.summary)\n")
            } catch {
                let failure = recordFailure(error, operation: "dump", fields: dumpFields)
                Kernel.writeError("criu-helper: periodic checkpoint failed: \(failure.message)\n")
            }
        }
    }
}
