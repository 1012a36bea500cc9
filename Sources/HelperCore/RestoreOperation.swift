import AuditLog
import CriuImages
import LinuxSystem
import ProcessTree

extension Session {
    /// `restore --images-dir DIR [--generation gN] [--wait]`: copy the
    /// generation's images into a private tmpfs, validate the copy, let criu
    /// restore it with every task left stopped, read back from /proc what the
    /// kernel restored, and only then let the job run.
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
        let terminal = summary.needsShellJob && (try? staging.read("tty-info.img")) != nil
        fields.append(("pid", .trusted(String(summary.root.pid))))

        let criu = try openCriu()
        try record(AuditRecord(operation: "restore", success: true, fields: fields + [("decision", .trusted("allowed"))]))
        JobLog.append("restore generation=\(generation): allowed (\(summary.processes.count) tasks, root pid \(summary.root.pid))", in: dir.fd)

        // 2. criu restores; restored tasks that lose their parent come to the
        //    helper (child subreaper), so none can escape the check below.
        do { try Kernel.becomeChildSubreaper() } catch { throw .internalError("\(error)") }
        let invocation = CriuInvocation.restore(shellJob: summary.needsShellJob, terminal: terminal)
        let status = try withCapabilities { (caps) throws(HelperFailure) in
            try CriuRunner().run(invocation, criu: criu, imagesDirectory: staging.root.rawValue, capabilities: caps)
        }
        Self.copyLog(from: staging.root, name: invocation.logName, to: source)
        guard status.succeeded else {
            Self.killAdoptedChildren()
            let log = dir.shown(generation + "/" + invocation.logName)
            JobLog.append("restore generation=\(generation): criu failed (\(status)); log \(log)", in: dir.fd)
            throw .criuFailed("criu restore failed (\(status)); its log: \(log)")
        }

        // 3. What the kernel restored, before any of it runs.
        let proc: ProcFilesystem
        do { proc = try ProcFilesystem.system() } catch { throw .internalError("/proc: \(error)") }
        let expected = summary.processes.map { RestoredTree.Expected(pid: Int32($0.pid), threads: $0.threads.map { Int32($0) }) }
        let restored: RestoredTree
        switch RestoredTree.verify(expected, in: proc, callerUID: caller.uid, callerGroups: caller.groups) {
        case .passed(let tree):
            restored = tree
        case .failed(let failure):
            failure.killAll()
            Self.killAdoptedChildren()
            JobLog.append("restore generation=\(generation): killed, \(failure.reason)", in: dir.fd)
            throw .refused("\(failure.reason); everything restored was killed")
        }
        do { try restored.resume() } catch { throw .internalError("cannot resume the job: \(error)") }
        JobLog.append("restore generation=\(generation): done, root pid \(summary.root.pid)", in: dir.fd)
        return Outcome(summary: "restored \(summary.processes.count) task\(summary.processes.count == 1 ? "" : "s") from \(dir.shown(generation)), root pid \(summary.root.pid)",
                       output: [String(summary.root.pid)], auditFields: fields)
    }

    /// Puts criu's log next to the images, where the job's author reads it.
    static func copyLog(from staging: borrowing FileDescriptor, name: String, to generation: borrowing FileDescriptor) {
        guard let input = try? staging.open(name, [.noFollow], resolve: [.noSymlinks, .beneath]),
              let output = try? generation.open(name, [.writeOnly, .create, .truncate, .noFollow], mode: 0o600,
                                                resolve: [.noSymlinks, .beneath]),
              (try? output.status().linkCount) == 1 else { return }
        _ = try? output.copyContents(from: input)
    }

    /// After a failed restore: SIGKILL whatever criu left behind as the
    /// helper's children (and so their trees, which are reaped with them).
    static func killAdoptedChildren() {
        let me = Kernel.processID
        guard let proc = try? FileDescriptor.open("/proc/\(me)/task/\(me)/children", .readOnly),
              let text = try? proc.readAll(limit: 1 << 20) else { return }
        for child in String(decoding: text, as: UTF8.self).split(separator: " ").compactMap({ Int32($0) }) {
            if let pin = try? PidFD(pid: child) { try? pin.send(9) }
        }
        while Spawn.reapAny() != nil {}
    }
}
