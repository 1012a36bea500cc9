import Glibc

/// A signal number, by name (signal(7)).
public struct Signal: RawRepresentable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// 0: no signal, only the permission and existence check.
    public static let probe = Signal(rawValue: 0)
    public static let interrupt = Signal(rawValue: SIGINT)
    public static let kill = Signal(rawValue: SIGKILL)
    public static let `continue` = Signal(rawValue: SIGCONT)
    public static let stop = Signal(rawValue: SIGSTOP)

    public var description: String {
        switch rawValue {
        case SIGHUP: return "SIGHUP"
        case SIGINT: return "SIGINT"
        case SIGKILL: return "SIGKILL"
        case SIGTERM: return "SIGTERM"
        case SIGCONT: return "SIGCONT"
        case SIGSTOP: return "SIGSTOP"
        default: return "signal \(rawValue)"
        }
    }
}
