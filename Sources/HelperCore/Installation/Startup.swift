import AuditLog
import LinuxSystem
import Privilege

/// The steps of start-up that main.swift tells in order. Each either
/// returns what the next step needs or ends the process with a one-line
/// message, an exit code, and (where possible) an audit record.
public enum Startup {
    public static let version = "criu-helper 0.1.0"

    /// Ends the process: message on stderr, exit code. Used before a Session exists.
    public static func fail(_ failure: HelperFailure, operation: String = "start") -> Never {
        Kernel.writeError(failure.description + "\n")
        bestEffortAudit(AuditRecord(operation: operation, success: false,
                                    fields: [("reason", .untrusted(failure.message))]))
        Kernel.exit(failure.code.rawValue)
    }

    /// An audit record written before the capability state is set up (or
    /// when it is broken): tried once, with CAP_AUDIT_WRITE raised if the
    /// process has it; failures are only reported.
    static func bestEffortAudit(_ record: AuditRecord) {
        guard let trail = try? AuditTrail.open() else { return }
        if let caps = try? ProcessCapabilities.current(), caps.permitted.contains(.auditWrite),
           let privileges = try? Privileges.takeControlOfWhatIsThere() {
            try? privileges.writeAuditRecord(record, to: trail)
        } else {
            _ = try? trail.send(record)
        }
    }

    /// The running binary's path as the kernel recorded it (not argv[0]).
    public static func executablePath() -> String {
        do {
            let proc = try FileDescriptor.open("/proc/self", [.directory])
            return proc.readLink("exe") ?? "/proc/self/exe"
        } catch {
            return "/proc/self/exe"
        }
    }

    public static func pidMax() -> Int32 {
        guard let fd = try? FileDescriptor.open("/proc/sys/kernel/pid_max", .readOnly),
              let bytes = try? fd.readAll(limit: 64),
              let n = Int32(String(decoding: bytes, as: UTF8.self).trimmed()), n > 1 else { return 4_194_304 }
        return n
    }

    /// Opens the kernel audit connection, or fails closed when the policy requires it.
    public static func openAudit(policy: Configuration.AuditPolicy) throws(HelperFailure) -> AuditConnection? {
        do {
            return AuditConnection(try AuditTrail.open())
        } catch {
            if policy == .required { throw .unavailable("\(error)") }
            Kernel.writeError("criu-helper: warning: \(error) (audit = best-effort)\n")
            return nil
        }
    }
}
