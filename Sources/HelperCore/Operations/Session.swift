import AuditLog
import Credentials
import CriuImages
import LinuxSystem
import Privilege
import ProcessTree

/// The kernel audit connection, shared by reference.
public final class AuditConnection {
    let trail: AuditTrail
    public init(_ trail: consuming AuditTrail) { self.trail = trail }
}

/// Everything the one request of this process runs with once start-up has
/// succeeded: who asked, the configuration, the privileges, the audit
/// connection and the caller's own process state (for a job).
public final class Session {
    public let caller: Caller
    public let config: Configuration
    public let executable: String
    /// The helper's privileges. Emptied (`dropPrivileges`) before it waits
    /// for a job with nothing privileged left to do.
    var privileges: Privileges?
    let audit: AuditConnection?
    let pidMax: Int32
    /// The caller's environment and process state, for the job `run` starts
    /// (never for criu).
    let callerEnvironment: [String]
    let callerState: CallerState
    /// The request's decision is on record (audit): one record per request.
    var decisionRecorded = false

    public init(caller: Caller, config: Configuration, executable: String, privileges: consuming Privileges,
                audit: AuditConnection?, pidMax: Int32, callerEnvironment: [String], callerState: CallerState) {
        self.caller = caller
        self.config = config
        self.executable = executable
        self.privileges = consume privileges
        self.audit = audit
        self.pidMax = pidMax
        self.callerEnvironment = callerEnvironment
        self.callerState = callerState
    }

    /// Writes one kernel audit record. With `audit = required` a record that
    /// is not written stops the request (fail closed).
    func record(_ record: AuditRecord) throws(HelperFailure) {
        guard let audit else {
            if config.audit == .required { throw .unavailable("kernel audit is unavailable") }
            return
        }
        let sent: Result<Void, AuditError>? = withPrivilegesIfHeld { (privileges) -> Result<Void, AuditError> in
            do throws(AuditError) { try privileges.writeAuditRecord(record, to: audit.trail); return .success(()) }
            catch { return .failure(error) }
        }
        guard let sent else { throw .internalError("audit record requested after the privileges were dropped") }
        if case .failure(let error) = sent {
            if config.audit == .required { throw .unavailable("\(error); nothing was done") }
            Kernel.writeError("criu-helper: warning: \(error) (audit = best-effort)\n")
        }
    }

    /// The decision that lets a request act, on record before it acts.
    func recordAllowed(_ operation: String, _ fields: [(key: String, value: AuditRecord.Value)]) throws(HelperFailure) {
        try record(AuditRecord(operation: operation, success: true, fields: fields + [("decision", .trusted("allowed"))]))
        decisionRecorded = true
    }

    /// Runs `body` with the privileges borrowed.
    func withPrivileges<T: ~Copyable>(_ body: (borrowing Privileges) throws(HelperFailure) -> T) throws(HelperFailure) -> T {
        guard let held = privileges.take() else { throw .internalError("privileges already dropped") }
        let result: Result<T, HelperFailure>
        do throws(HelperFailure) { result = .success(try body(held)) } catch { result = .failure(error) }
        privileges = consume held
        return try result.get()
    }

    private func withPrivilegesIfHeld<T>(_ body: (borrowing Privileges) -> T) -> T? {
        guard let held = privileges.take() else { return nil }
        let result = body(held)
        privileges = consume held
        return result
    }

    /// Gives up every capability for good.
    public func dropPrivileges() throws(HelperFailure) {
        guard let held = privileges.take() else { return }
        do { try held.dropAll() } catch { throw .internalError("cannot drop capabilities: \(error)") }
    }

    /// Opens criu from the configuration: root-owned all the way down.
    func openCriu() throws(HelperFailure) -> FileDescriptor {
        do { return try TrustedFile.open(config.criu, .pathOnly) } catch {
            throw .unavailable("criu \(error) (configuration: criu = \(config.criu))")
        }
    }

    /// The restore check next to this binary: root-owned all the way down.
    func restoreCheckPath() throws(HelperFailure) -> String {
        let path = Configuration.restoreCheckPath(forExecutable: Startup.executablePath())
        do { _ = try TrustedFile.open(path, .pathOnly) } catch {
            throw .unavailable("the restore check \(error) (install it with install/setcap.sh or the package)")
        }
        return path
    }

    /// The one credential rule, for the tree, the images and the restored tasks.
    var rule: CredentialRule {
        CredentialRule(uid: caller.uid, groups: caller.groups, requireNoNewPrivileges: config.requireNoNewPrivileges)
    }

    var imageValidator: ImageValidator {
        var validator = ImageValidator(caller: rule, maximumTasks: config.maximumTasks, maximumThreads: config.maximumThreads,
                                       pidMax: UInt32(pidMax))
        validator.network = NetworkRule.policy()
        validator.allowsMultiThreadedTasks = config.multiThreaded == .allow
        // The group new terminals get here: /dev/ptmx's (`tty` on Debian).
        validator.terminalGroup = (try? FileDescriptor.open("/dev/ptmx", [.pathOnly], resolve: [.noSymlinks]).status().group)
        return validator
    }

    /// How long criu may run, in milliseconds.
    var criuTimeoutMilliseconds: Int { config.criuTimeout * 1000 }
    /// How long nothing of a criu run (criu, what it started, the tasks it
    /// works on) may run before the run is taken for stalled and ended
    /// (StallWatch): a working run always has something running.
    static let stallSeconds = 5

    /// Reads a whole file of a generation directory, never through a link.
    static func readImage(_ dir: borrowing FileDescriptor, _ name: String) throws(ImageError) -> [UInt8] {
        do {
            let fd = try dir.open(name, [.noFollow, .nonBlocking], resolve: [.noSymlinks, .beneath])
            let st = try fd.status()
            guard st.isRegularFile else { throw ImageError.forbidden(file: name, "is \(st.kindDescription)") }
            return try fd.readAll(limit: ImageValidator.maximumImageSize)
        } catch let error as ImageError {
            throw error
        } catch let error as SystemError {
            if error.errno == .noSuchFileOrDirectory { throw .malformed(file: name, "missing") }
            throw .malformed(file: name, "\(error.errno)")
        } catch {
            throw .malformed(file: name, "\(error)")
        }
    }
}
