import AuditLog
import CapabilityGuard
import CriuImages
import LinuxSystem
import ProcessTree

/// The kernel audit connection, shared by reference.
public final class AuditConnection {
    let trail: AuditTrail
    public init(_ trail: consuming AuditTrail) { self.trail = trail }
}

/// Everything a request runs with once start-up has succeeded: who asked,
/// the configuration, the capability state, the audit connection and the
/// trusted criu binary. One per process.
public final class Session {
    public let caller: Caller
    public let config: Configuration
    public let executable: String
    /// The helper's capabilities. Emptied (`dropAllCapabilities`) before a
    /// job is started or when nothing privileged is left to do.
    var capabilities: CapabilityGuard?
    let audit: AuditConnection?
    let pidMax: Int32
    /// The caller's environment, for the job `run` starts (never for criu).
    let callerEnvironment: [String]

    public init(caller: Caller, config: Configuration, executable: String,
                capabilities: consuming CapabilityGuard, audit: AuditConnection?, pidMax: Int32,
                callerEnvironment: [String]) {
        self.callerEnvironment = callerEnvironment
        self.caller = caller
        self.config = config
        self.executable = executable
        self.capabilities = consume capabilities
        self.audit = audit
        self.pidMax = pidMax
    }

    /// Writes one kernel audit record with CAP_AUDIT_WRITE effective for the
    /// send only. With `audit = required` a record that is not written stops
    /// the request (fail closed).
    public func record(_ record: AuditRecord) throws(HelperFailure) {
        guard let audit else {
            if config.audit == .required { throw .unavailable("kernel audit is unavailable") }
            return
        }
        let result: AuditError?? = capabilities?.withEffective(.auditWrite) { () -> AuditError? in
            do throws(AuditError) { try audit.trail.send(record); return nil } catch { return error }
        }
        guard let sent = result else { throw .internalError("audit record requested after capabilities were dropped") }
        if let error = sent {
            if config.audit == .required { throw .unavailable("\(error); nothing was done") }
            Kernel.writeError("criu-helper: warning: \(error) (audit = best-effort)\n")
        }
    }

    /// Runs `body` with the capability guard borrowed.
    func withCapabilities<T>(_ body: (borrowing CapabilityGuard) throws(HelperFailure) -> T) throws(HelperFailure) -> T {
        guard let caps = capabilities.take() else { throw .internalError("capabilities already dropped") }
        let result: Result<T, HelperFailure>
        do throws(HelperFailure) { result = .success(try body(caps)) } catch { result = .failure(error) }
        capabilities = consume caps
        return try result.get()
    }

    /// Gives up every capability for good.
    public func dropAllCapabilities() throws(HelperFailure) {
        guard let caps = capabilities.take() else { return }
        do { try caps.dropAll() } catch { throw .internalError("cannot drop capabilities: \(error)") }
    }

    /// Opens criu from the configuration: root-owned all the way down.
    func openCriu() throws(HelperFailure) -> FileDescriptor {
        do { return try TrustedFile.open(config.criu, .pathOnly) } catch {
            throw .unavailable("criu \(error) (configuration: criu = \(config.criu))")
        }
    }

    var callerCredentials: CallerCredentials {
        CallerCredentials(uid: caller.uid, groups: caller.groups, requireNoNewPrivileges: config.requireNoNewPrivileges)
    }

    var imageValidator: ImageValidator {
        ImageValidator(caller: callerCredentials, maximumTasks: config.maximumTasks,
                       maximumThreads: config.maximumThreads, pidMax: UInt32(pidMax))
    }

    func treePolicy(proc: ProcFilesystem) throws(HelperFailure) -> TreePolicy {
        do {
            return TreePolicy(
                callerUID: caller.uid, callerGroups: caller.groups,
                excludedPIDs: proc.ancestry(of: Kernel.processID),
                userNamespace: try proc.namespace("user", of: String(Kernel.processID)),
                pidNamespace: try proc.namespace("pid", of: String(Kernel.processID)),
                requireNoNewPrivileges: config.requireNoNewPrivileges,
                maximumTasks: config.maximumTasks, maximumThreads: config.maximumThreads)
        } catch {
            throw .internalError("cannot read the helper's own namespaces: \(error)")
        }
    }

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
