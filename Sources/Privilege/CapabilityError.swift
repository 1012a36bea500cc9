import LinuxSystem

/// Why the helper's own capabilities are not usable.
public enum CapabilityError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The permitted set lacks capabilities that install/setcap.sh grants: the
    /// binary was not installed with them, the file system is mounted nosuid,
    /// or the caller set no_new_privs (which makes the kernel ignore file
    /// capabilities).
    case missing(CapabilitySet, noNewPrivileges: Bool)
    case systemCall(String)

    public var description: String {
        switch self {
        case .missing(let caps, let nnp):
            let why = nnp
                ? "the caller set no_new_privs, so the kernel ignored the file capabilities"
                : "run install/setcap.sh; a nosuid mount or a missing setcap cause this"
            return "the helper lacks \(caps) in its permitted set (\(why))"
        case .systemCall(let what):
            return "cannot change capabilities: \(what)"
        }
    }
}
