/// Why a kernel audit record could not be written.
public enum AuditError: Error, Equatable, Sendable, CustomStringConvertible {
    case unavailable(String)
    case notWritten(String)

    public var description: String {
        switch self {
        case .unavailable(let why): return "kernel audit is unavailable: \(why)"
        case .notWritten(let why): return "the kernel did not accept the audit record: \(why)"
        }
    }
}
