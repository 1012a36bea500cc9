import AuditLog
import CriuImages
import LinuxSystem
import Privilege
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
        let plan = try PrivateCopy.Plan.make(from: source, caller: caller)
        let copy = try PrivateCopy.prepare(plan, from: source, sourcePath: sourcePath, session: self)
        let rearmedTimers = try copy.rearmExpiredTimers()
        let summary: ImageValidator.Summary
        do {
            summary = try imageValidator.validate(names: copy.names, read: { (name) throws(ImageError) in try copy.read(name) },
                                                  inspector: LivePaths.inspect)
        } catch {
            throw .refused("\(dir.shown(generation)): \(error)")
        }
        fields.append(("pid-inside", .trusted(String(summary.root.pid))))
        let privateNetwork = try JobNetwork.isPrivate(source, shown: dir.shown(generation))
        if privateNetwork { fields.append(("network", .trusted("private"))) }

        let criu = try openCriu()
        let restoreCheck = try restoreCheckPath()
        try recordAllowed("restore", fields)
        JobLog.append("restore generation=\(generation): allowed (\(summary.processes.count) tasks, root pid \(summary.root.pid))", in: dir.fd)
        for id in rearmedTimers {
            JobLog.append("restore generation=\(generation): timerfd \(id) had fired unread at the dump: armed to fire at once (criu alone would restore it disarmed)", in: dir.fd)
        }

        // Exactly-once output: what the previous run wrote after this
        // checkpoint is cut before the job runs again, and said.
        let ranAfter = (try? source.status(of: ImagesDirectory.ranAfterName)) != nil
        let output = ranAfter ? OutputFiles.bringBack(summary.writtenFiles, caller: caller, apply: !request.keepOutput)
                              : OutputFiles.Report()
        let lost = Self.whatWasLost(generation: generation, in: source, ranAfter: ranAfter, output: output)
        JobLog.append("restore generation=\(generation): \(lost)", in: dir.fd)
        for cut in output.cut {
            JobLog.append("restore generation=\(generation): cut \(cut.path) from \(cut.from) to \(cut.to) bytes", in: dir.fd)
        }
        // Every failure from here on, until the job is handed over, gives
        // the output back what was cut.
        func undoCut() {
            guard !output.cut.isEmpty else { return }
            let failed = OutputFiles.putBack(output, caller: caller)
            JobLog.append("restore generation=\(generation): put back what was cut from \(output.cut.count - failed.count) of \(output.cut.count) files", in: dir.fd)
            for (path, why) in failed {
                JobLog.append("restore generation=\(generation): could not put back what was cut from \(path): \(why)", in: dir.fd)
            }
        }
        var handedOver = false
        defer { if !handedOver { undoCut() } }
        for kept in output.kept {
            JobLog.append("restore generation=\(generation): left \(kept.path) as it is: \(kept.why)", in: dir.fd)
        }

        // 2. criu restores inside fresh PID and mount namespaces (and a
        //    network namespace, when the job had one of its own), whose init
        //    is the helper's reaper: the restored PIDs cannot clash with
        //    anything, and if anything below fails, killing the reaper ends
        //    every restored task with it.
        let invocation = CriuInvocation.restore(shellJob: summary.needsShellJob, restoreCheck: restoreCheck)
        let highest = (summary.processes.map(\.pid) + summary.processes.flatMap(\.threads) + summary.endedProcesses).max() ?? 300
        let lastPID = Int32(min(highest, UInt32(pidMax - 2)))
        let reaper = try withPrivileges { (privileges) throws(HelperFailure) -> JobReaper in
            do {
                return try privileges.startCriuRestoring(invocation.child, program: criu, passing: copy.root, lastPID: lastPID,
                                                         privateNetwork: privateNetwork)
            }
            catch { throw .unavailable("cannot start criu in new namespaces: \(error)") }
        }
        // A signal with the caller's uid can stop what criu waits for (a
        // task it holds under ptrace, the restore check, criu itself): criu
        // would wait, with its capability, until criu-timeout. A restore in
        // which nothing ran for stallSeconds is ended (StallWatch).
        let reaperPID = reaper.pid
        var watch = (try? ProcFilesystem.system()).map { proc in
            StallWatch(proc: proc, criu: { (try? proc.children(of: reaperPID))?.first },
                       windowNanoseconds: UInt64(Self.stallSeconds) * 1_000_000_000)
        }
        // A lock the job held, taken since the dump by a process outside
        // the restore, makes criu wait for it (LockWatch).
        var locks = (try? ProcFilesystem.system()).map { proc in
            LockWatch(proc: proc, below: reaperPID, files: { Self.identities(of: summary.openedFiles) },
                      windowNanoseconds: UInt64(Self.stallSeconds) * 1_000_000_000)
        }
        var lockBlock: LockBlock?
        let end = reaper.criuEnded(milliseconds: criuTimeoutMilliseconds, checkingEvery: 500) {
            let now = Kernel.monotonicNanoseconds
            if let block = locks?.blocked(now: now) {
                lockBlock = block
                return "file locks"
            }
            return watch?.stalled(now: now)
        }
        Self.copyLog(from: copy.root, name: invocation.logName, to: source)
        let log = dir.shown(generation + "/" + invocation.logName)
        if let lockBlock {
            reaper.kill()
            let reason = Self.lockWaitReason(lockBlock)
            JobLog.append("restore generation=\(generation): killed, \(reason)", in: dir.fd)
            throw .refused("\(reason); everything restored was killed")
        }
        if case .stalled(let stall) = end {
            reaper.kill()
            let reason = "the restore stalled: nothing in it ran for \(Self.stallSeconds) s (\(stall)); a task of it was stopped by a signal sent with your uid, such as SIGSTOP or SIGCONT"
            JobLog.append("restore generation=\(generation): killed, \(reason)", in: dir.fd)
            throw .refused("\(reason); everything restored was killed")
        }
        let criuCode: Int32? = if case .exited(let code) = end { code } else { nil }
        guard let criuCode, criuCode == 0 else {
            reaper.kill()
            // The restore check refused what criu restored (criu then killed it).
            if let reason = Self.restoreCheckReason(in: copy.root) {
                JobLog.append("restore generation=\(generation): killed by the restore check, \(reason)", in: dir.fd)
                throw .refused("\(reason); everything restored was killed")
            }
            let what = criuCode.map { "exit status \($0)" } ?? "did not finish within criu-timeout = \(config.criuTimeout) s and was killed"
            JobLog.append("restore generation=\(generation): criu failed (\(what)); log \(log)", in: dir.fd)
            throw .criuFailed("criu restore failed (\(what)); its log: \(log)")
        }

        // 3. What the kernel restored, before any of it runs.
        let proc: ProcFilesystem
        do { proc = try ProcFilesystem.system() } catch { reaper.kill(); throw .internalError("/proc: \(error)") }
        let expected = summary.processes.map {
            RestoredTree.Expected(pid: Int32($0.pid), threads: $0.threads.map { Int32($0) }, wasStopped: $0.wasStopped,
                                  stopSignal: $0.stopSignal)
        }
        let restored: RestoredTree
        switch RestoredTree.verify(expected, below: reaper.pid, in: proc, rule: rule) {
        case .passed(let tree):
            restored = tree
        case .failed(let failure):
            failure.killAll()
            reaper.kill()
            JobLog.append("restore generation=\(generation): killed, \(failure.reason)", in: dir.fd)
            throw .refused("\(failure.reason); everything restored was killed")
        }
        let rootInside = Int32(summary.root.pid)
        guard let rootOutside = restored.outerPIDs[rootInside] else { reaper.kill(); throw .internalError("restored root not found") }
        guard reaper.keep(root: rootInside, detach: !request.wait) else {
            reaper.kill()
            throw .internalError("the job's reaper did not take the restored job over; everything restored was killed")
        }
        handedOver = true
        // Said once the job is restored: a refused or failed restore prints
        // its one line only (and has put back what was cut).
        Kernel.writeError("criu-helper: \(lost)\n")
        do { try restored.resume(in: proc) } catch { throw .internalError("cannot resume the job: \(error)") }
        // From here the job writes after this checkpoint.
        dir.markRanAfter(generation)

        let reaperStart = (try? TaskStat.parse(try proc.read("\(reaper.pid)/stat")))?.startTime ?? 0
        // Without the record, later requests need --pid; the job itself is fine.
        do {
            try JobRecord(reaperPID: reaper.pid, reaperStartTime: reaperStart, rootInnerPID: rootInside,
                          command: "restored from \(generation)").write(to: dir)
        } catch {
            Kernel.writeError("criu-helper: warning: \(error.message); later requests need --pid \(rootOutside)\n")
        }
        JobLog.append("restore generation=\(generation): done, root pid \(rootOutside) (\(rootInside) inside its namespace)", in: dir.fd)
        let summaryLine = "restored \(summary.processes.count) task\(summary.processes.count == 1 ? "" : "s") from \(dir.shown(generation)), root pid \(rootOutside)"
        guard request.wait else {
            return Outcome(summary: summaryLine, output: [String(rootOutside)])
        }
        // --wait: stay with the job like `run` does. The lock was for the
        // restore; a checkpoint of the job takes it again (as under `run`).
        Kernel.writeError("criu-helper: \(summaryLine)\n")
        Kernel.writeOutput("\(rootOutside)\n")
        dir.unlock()
        let status: ExitStatus
        if let every = request.checkpointEvery {
            status = runWithCheckpoints(reaper: reaper, job: rootOutside, every: every, imagesDirectory: request.imagesDirectory,
                                        keep: request.keep)
        } else {
            try dropPrivileges()
            status = waitForJob(reaper: reaper, root: rootOutside)
        }
        JobLog.append("restore generation=\(generation): job ended (\(status))", in: dir.fd)
        return Outcome(jobStatus: status)
    }

    /// The files criu opens for the restore, by device and inode, with
    /// their paths (looked up as the caller, never through a link; those
    /// gone are left out).
    static func identities(of paths: [String]) -> [LockWatch.FileIdentity: String] {
        var found: [LockWatch.FileIdentity: String] = [:]
        for path in paths.prefix(65_536) {
            guard let fd = try? FileDescriptor.open(path, [.pathOnly], resolve: [.noSymlinks, .noMagicLinks]),
                  let st = try? fd.status() else { continue }
            let id = LockWatch.FileIdentity(device: st.device, inode: st.inode)
            if found[id] == nil { found[id] = path }
        }
        return found
    }

    /// "the restore waited 5 s for file locks held outside the job, the
    /// last a lock (FLOCK) on '/home/u/data', which process 4321 of uid
    /// 1002 holds …"
    static func lockWaitReason(_ block: LockBlock) -> String {
        if block.tableUnreadable {
            return "the restore waited \(Self.stallSeconds) s, asleep, and /proc/locks could not be read within 1 s to tell for which lock (the node holds more file locks than can be read in time: another user may be flooding it); restore once the node's file locks are fewer"
        }
        let (major, minor) = FileStatus.deviceNumbers(block.holder.device)
        let file = block.path.map { PathPolicy.quoted($0) } ?? "the file of device \(major):\(minor) inode \(block.holder.inode)"
        let holder = block.holder.pid.map { pid in
            block.holderNumberIsTheRestores
                ? "a process that has ended (its number, \(pid), is now one of the restore's; a process it passed the file to)"
                : "process \(pid)" + (block.holderUID.map { " of uid \($0)" } ?? " (which has ended; a process it passed the file to)")
        } ?? "an open file description (an OFD lock, which names no process)"
        let what = block.holder.kind == "LEASE" ? "a lease" : "a lock (\(block.waiter.kind))"
        return "the restore waited \(Self.stallSeconds) s for file locks held outside the job, the last \(what) on \(file), which \(holder) holds: the job held its locks at the checkpoint and criu takes them again (and an open waits for another process's lease); restore once they are let go (a file others may open can be locked by them between dump and restore)"
    }

    /// One line for the job's author: how old the checkpoint is, how long
    /// the previous run went on after it, and what of its output was cut.
    static func whatWasLost(generation: String, in source: borrowing FileDescriptor, ranAfter: Bool,
                            output: OutputFiles.Report) -> String {
        let clock = Kernel.wallClock
        let now = Int64(clock.seconds) * 1_000_000_000 + Int64(clock.nanoseconds)
        let taken = (try? source.status(of: "inventory.img"))?.modifiedAtNanoseconds ?? now
        return whatWasLost(generation: generation, takenAt: taken, now: now, ranAfter: ranAfter, output: output)
    }

    /// The line itself, times in nanoseconds since the epoch. Output cut
    /// means the previous run wrote after the checkpoint, whatever the
    /// clocks say (a write in the same clock tick as the dump's end).
    static func whatWasLost(generation: String, takenAt taken: Int64, now: Int64, ranAfter: Bool,
                            output: OutputFiles.Report) -> String {
        var line = "resuming \(generation), checkpointed \(OutputFiles.duration((now - taken) / 1_000_000_000)) ago"
        if !ranAfter {
            line += "; the job stopped at that checkpoint, nothing was lost"
        } else if let last = output.lastWrite, last > taken || !output.cut.isEmpty {
            line += "; the previous run went on for \(OutputFiles.duration(nanoseconds: last - taken)) after it"
        } else {
            line += "; the previous run wrote nothing after it"
        }
        if !output.cut.isEmpty {
            line += "; \(output.bytesCut) bytes it wrote since were cut from \(output.cut.count) file\(output.cut.count == 1 ? "" : "s"), so that they are written once"
        }
        if !output.kept.isEmpty {
            line += "; \(output.kept.count) file\(output.kept.count == 1 ? "" : "s") left as \(output.kept.count == 1 ? "it was" : "they were") (see criu-helper.log)"
        }
        return line
    }

    /// Waits for a job's reaper, forwarding SIGTERM, SIGINT and SIGHUP to the
    /// job's root. The reaper exits with the root's status (128 + signal).
    func waitForJob(reaper: JobReaper, root: Int32, timeoutMilliseconds: Int = -1) -> ExitStatus {
        let status: ExitStatus
        if let target = try? PidFD(pid: root) {
            status = Spawn.waitForwarding(reaper.pid, forwardTo: target) ?? .exited(255)
        } else if let target = try? PidFD(pid: reaper.pid) {
            status = Spawn.waitForwarding(reaper.pid, forwardTo: target) ?? .exited(255)
        } else {
            status = .exited(255)
        }
        if case .exited(let code) = status, code > 128, code < 128 + 65 { return .signaled(code - 128) }
        return status
    }

    /// What criu-helper-restore-check wrote, if it refused.
    static func restoreCheckReason(in copy: borrowing FileDescriptor) -> String? {
        guard let fd = try? copy.open("criu-helper-restore-check.txt", [.noFollow, .nonBlocking], resolve: [.noSymlinks, .beneath]),
              let bytes = try? fd.readAll(limit: 4096), !bytes.isEmpty else { return nil }
        return String(decoding: bytes.prefix(1000), as: UTF8.self)
    }

    /// Puts criu's log next to the images, where the job's author reads it.
    /// O_NONBLOCK: a FIFO the caller put at the log's name fails (ENXIO)
    /// instead of holding the restore until someone reads it.
    static func copyLog(from staging: borrowing FileDescriptor, name: String, to generation: borrowing FileDescriptor) {
        guard let input = try? staging.open(name, [.noFollow, .nonBlocking], resolve: [.noSymlinks, .beneath]),
              let output = try? generation.open(name, [.writeOnly, .create, .truncate, .noFollow, .nonBlocking], mode: 0o600,
                                                resolve: [.noSymlinks, .beneath]),
              let status = try? output.status(), status.isRegularFile, status.linkCount == 1 else { return }
        _ = try? output.copyContents(from: input)
    }
}
