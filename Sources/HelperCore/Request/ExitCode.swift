/// criu-helper's exit codes (sysexits.h where one fits). Documented in
/// README.md and `criu-helper --help`; wrappers depend on them.
public enum ExitCode: Int32, Sendable {
    /// Done.
    case done = 0
    /// criu itself failed; its log path was printed.
    case criuFailed = 1
    /// The command line is wrong (EX_USAGE).
    case usage = 64
    /// A dependency is unavailable: criu, kernel audit, the helper's own
    /// capabilities or configuration (EX_UNAVAILABLE).
    case unavailable = 69
    /// An internal error (EX_SOFTWARE).
    case internalError = 70
    /// Refused: ownership, policy or validation (EX_NOPERM).
    case refused = 77
}
