/// A request that ends without doing its work: the exit code, the one-line
/// message for stderr, and a short reason for the audit record.
public struct HelperFailure: Error, Sendable, CustomStringConvertible {
    public var code: ExitCode
    public private(set) var message: String

    /// Control characters in `message` (a path read back from /proc may
    /// hold a newline) are shown escaped: a refusal is always one line.
    public init(_ code: ExitCode, _ message: String) {
        self.code = code
        var line = ""
        for scalar in message.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                line += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            } else {
                line.unicodeScalars.append(scalar)
            }
        }
        self.message = line
    }

    public static func refused(_ message: String) -> HelperFailure { HelperFailure(.refused, message) }
    public static func usage(_ message: String) -> HelperFailure { HelperFailure(.usage, message) }
    public static func unavailable(_ message: String) -> HelperFailure { HelperFailure(.unavailable, message) }
    public static func internalError(_ message: String) -> HelperFailure { HelperFailure(.internalError, message) }
    public static func criuFailed(_ message: String) -> HelperFailure { HelperFailure(.criuFailed, message) }

    /// The line printed on stderr.
    public var description: String {
        switch code {
        case .refused: return "criu-helper: refused: \(message)"
        case .usage: return "criu-helper: usage error: \(message) (see criu-helper --help)"
        case .unavailable: return "criu-helper: unavailable: \(message)"
        case .internalError: return "criu-helper: internal error: \(message)"
        case .criuFailed: return "criu-helper: \(message)"
        case .done: return "criu-helper: \(message)"
        }
    }
}
