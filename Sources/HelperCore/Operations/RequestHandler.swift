import AuditLog
import LinuxSystem

extension Session {
    /// Parses and carries out the request, puts its decision on record
    /// (kernel audit: one record per request), prints what it has to say and
    /// returns the exit code.
    ///
    /// A request that was allowed records its decision itself, just before it
    /// acts. Every other request — refused, a usage error, a dependency
    /// missing — is recorded here, once. An allowed request gets a second
    /// record only when a check after criu undoes it (the images do not
    /// pass, the restored tasks are not the caller's): the one case a
    /// reviewer must see besides the decision.
    public func handle(_ argv: [String]) -> Int32 {
        var fields: [(key: String, value: AuditRecord.Value)] = []
        var operation = argv.count >= 2 ? Request.operationName(argv[1]) : "usage"
        do {
            let request = try RequestParser(pidMax: pidMax).parse(argv)
            operation = request.operation
            fields = Self.fields(of: request)
            let outcome = try perform(request, fields: &fields)
            if !decisionRecorded { try recordAllowed(operation, fields) }
            if !outcome.summary.isEmpty { Kernel.writeError("criu-helper: \(outcome.summary)\n") }
            for line in outcome.output { Kernel.writeOutput(line + "\n") }
            return outcome.exitCode
        } catch {
            if case .usage = error.code, argv.count >= 2 {
                fields.append(("arguments", .untrusted(argv.dropFirst().joined(separator: " "))))
            }
            let failure = recordFailure(error, operation: operation, fields: fields)
            Kernel.writeError(failure.description + "\n")
            return failure.code.rawValue
        }
    }

    /// Records a request that did not do its work. If even that record cannot
    /// be written while audit is required, the failure becomes "unavailable".
    func recordFailure(_ failure: HelperFailure, operation: String,
                       fields: [(key: String, value: AuditRecord.Value)]) -> HelperFailure {
        let decision: String
        if decisionRecorded {
            // Allowed, then undone by a check: on record. Anything else that
            // went wrong after the decision (criu failed) is in the job's log.
            guard failure.code == .refused else { return failure }
            decision = "undone"
        } else {
            decision = failure.code == .refused ? "refused" : "failed"
        }
        let entry = AuditRecord(operation: operation, success: false,
                                fields: fields + [("decision", .trusted(decision)), ("reason", .untrusted(failure.message))])
        do throws(HelperFailure) { try record(entry) } catch { return failure.code == .refused ? failure : error }
        return failure
    }

    func perform(_ request: Request, fields: inout [(key: String, value: AuditRecord.Value)]) throws(HelperFailure) -> Outcome {
        switch request {
        case .dump(let r): return try dump(r, fields: &fields)
        case .restore(let r): return try restore(r, fields: &fields)
        case .run(let r): return try run(r, fields: &fields)
        case .list(let dir): return try list(imagesDirectory: dir, fields: &fields)
        case .check, .help, .version:
            throw .usage("\(request.operation) takes no other arguments")
        }
    }

    static func fields(of request: Request) -> [(key: String, value: AuditRecord.Value)] {
        switch request {
        case .dump(let r):
            var f: [(key: String, value: AuditRecord.Value)] = [("images-dir", .untrusted(r.imagesDirectory))]
            if r.leaveRunning { f.append(("leave-running", .trusted("yes"))) }
            return f
        case .restore(let r): return [("images-dir", .untrusted(r.imagesDirectory))]
        case .run(let r):
            var f: [(key: String, value: AuditRecord.Value)] = [("command", .untrusted(r.command.joined(separator: " ")))]
            if let d = r.imagesDirectory { f.append(("images-dir", .untrusted(d))) }
            if r.privateNetwork { f.append(("network", .trusted("private"))) }
            return f
        case .list(let d): return [("images-dir", .untrusted(d))]
        case .check, .help, .version: return []
        }
    }
}

extension Request {
    /// The operation named by argv[1], for records of requests that did not parse.
    static func operationName(_ word: String) -> String {
        ["dump", "restore", "run", "list", "check"].contains(word) ? word : "usage"
    }
}
