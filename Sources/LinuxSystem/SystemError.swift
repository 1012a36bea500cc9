/// A failed system call: what was attempted, on what, and the kernel's answer.
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    public var operation: String
    public var subject: String?
    public var errno: Errno

    public init(_ operation: String, _ subject: String? = nil, errno: Errno = .current) {
        self.operation = operation
        self.subject = subject
        self.errno = errno
    }

    public var description: String {
        if let subject { return "\(operation) \(subject): \(errno)" }
        return "\(operation): \(errno)"
    }
}
