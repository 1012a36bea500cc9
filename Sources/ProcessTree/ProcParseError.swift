/// A /proc file that did not have the expected form.
public enum ProcParseError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String, String)

    public var description: String {
        switch self {
        case .malformed(let file, let why): return "unexpected /proc/PID/\(file) (\(why))"
        }
    }
}
