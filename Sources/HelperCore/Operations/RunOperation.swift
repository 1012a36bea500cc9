import AuditLog
import LinuxSystem
import Privilege
import ProcessTree

extension Session {
    /// `run [--images-dir DIR] [--checkpoint-every S] [--private-network] -- CMD...`:
    /// starts CMD as a checkpointable job — in new PID and mount namespaces
    /// (and with --private-network a network namespace with loopback only,
    /// which other users cannot reach) under the
    /// helper's reaper, in its own session, stdio without a terminal,
    /// no_new_privs, no capabilities, as the caller with the caller's own
    /// environment, umask, signal dispositions, mask and resource limits —
    /// and stays in the foreground: forwards SIGTERM, SIGINT and SIGHUP, and
    /// exits with the job's status. With --checkpoint-every it dumps the job
    /// periodically (leaving it running); otherwise it gives up every
    /// capability at once.
    public func run(_ request: RunRequest, fields: inout [(key: String, value: AuditRecord.Value)]) throws(HelperFailure) -> Outcome {
        var dir: ImagesDirectory? = nil
        if let path = request.imagesDirectory {
            let opened = try ImagesDirectory.open(path, caller: caller, create: true)
            try opened.lock(timeoutSeconds: config.lockTimeout)
            try opened.checkContents()
            dir = opened
        }
        try recordAllowed("run", fields)

        var job = ChildSpec(arguments: request.command, environment: callerEnvironment)
        job.newSession = true
        job.parentDeathSignal = nil
        job.umask = callerState.umask
        job.callerState = callerState
        let started = try withPrivileges { (privileges) throws(HelperFailure) -> Result<JobReaper, StartFailure> in
            do throws(StartFailure) { return .success(try privileges.startJob(job, privateNetwork: request.privateNetwork)) }
            catch { return .failure(error) }
        }
        let reaper: JobReaper
        switch started {
        case .success(let started):
            reaper = started
        case .failure(let failure) where failure.isExec:
            // The command itself cannot run: said as a shell says it, and its
            // exit status a shell's (127 not found, 126 not executable).
            Kernel.writeError("criu-helper: cannot run \(RequestParser.shown(request.command[0])): \(failure.errno)\n")
            return Outcome(jobStatus: .exited(failure.errno == Errno.noSuchFileOrDirectory ? 127 : 126))
        case .failure(let failure):
            throw .unavailable("cannot start the job: \(failure)")
        }
        let proc: ProcFilesystem
        do { proc = try ProcFilesystem.system() } catch { reaper.kill(); throw .internalError("/proc: \(error)") }
        let jobPID = (try? proc.children(of: reaper.pid))?.first ?? -1
        if let dir {
            let start = (try? TaskStat.parse(try proc.read("\(reaper.pid)/stat")))?.startTime ?? 0
            try JobRecord(reaperPID: reaper.pid, reaperStartTime: start, rootInnerPID: reaper.childInside,
                          command: request.command.joined(separator: " ")).write(to: dir)
            JobLog.append("run: started pid \(jobPID) (\(reaper.childInside) inside its namespace): \(request.command.joined(separator: " "))", in: dir.fd)
            // The lock was for starting; checkpoints take it again each time.
            dir.unlock()
        }

        let status: ExitStatus
        if let every = request.checkpointEvery, let path = request.imagesDirectory {
            status = runWithCheckpoints(reaper: reaper, job: jobPID, every: every, imagesDirectory: path, keep: request.keep)
        } else {
            // Nothing privileged is left to do: the helper becomes an ordinary
            // process of the caller's that waits.
            try dropPrivileges()
            status = waitForJob(reaper: reaper, root: jobPID)
        }
        if let path = request.imagesDirectory, let dir = try? ImagesDirectory.open(path, caller: caller, create: false) {
            JobLog.append("run: job \(jobPID) ended (\(status))", in: dir.fd)
        }
        return Outcome(jobStatus: status)
    }

    /// Waits in slices of `every` seconds; after each, dumps the job with
    /// --leave-running into a new generation. A failed checkpoint is reported
    /// (and audited when refused); the job goes on, and the previous
    /// generation stays.
    func runWithCheckpoints(reaper: JobReaper, job: Int32, every: Int, imagesDirectory: String, keep: Int?) -> ExitStatus {
        // The job's pidfd, kept for the whole wait: signals go to the job,
        // never to a later process with its PID.
        guard let forward = try? PidFD(pid: job) else { return waitForJob(reaper: reaper, root: job) }
        while true {
            if let status = Spawn.waitForwarding(reaper.pid, forwardTo: forward, timeoutMilliseconds: every * 1000) {
                if case .exited(let code) = status, code > 128, code < 128 + 65 { return .signaled(code - 128) }
                return status
            }
            // Each checkpoint is a request of its own, with its own record.
            var dumpFields: [(key: String, value: AuditRecord.Value)] = [("images-dir", .untrusted(imagesDirectory)),
                                                                         ("periodic", .trusted("yes"))]
            decisionRecorded = false
            do {
                let outcome = try dump(DumpRequest(pid: nil, imagesDirectory: imagesDirectory, leaveRunning: true, keep: keep),
                                       fields: &dumpFields)
                Kernel.writeError("criu-helper: \(outcome.summary)\n")
            } catch {
                let failure = recordFailure(error, operation: "dump", fields: dumpFields)
                Kernel.writeError("criu-helper: periodic checkpoint failed: \(failure.message)\n")
            }
        }
    }
}
