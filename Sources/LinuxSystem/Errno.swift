import Glibc

/// An error number from the C library, with its message (swift-system's `Errno`).
public struct Errno: RawRepresentable, Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public init(_ raw: Int32) { self.rawValue = raw }

    /// The calling thread's `errno`.
    public static var current: Errno { Errno(Glibc.errno) }

    public var description: String { String(cString: strerror(rawValue)) }

    public static let noSuchFileOrDirectory = Errno(ENOENT)
    public static let noSuchProcess = Errno(ESRCH)
    public static let permissionDenied = Errno(EACCES)
    public static let notPermitted = Errno(EPERM)
    public static let fileExists = Errno(EEXIST)
    public static let wouldBlock = Errno(EWOULDBLOCK)
    public static let tooManySymbolicLinks = Errno(ELOOP)
    public static let crossDevice = Errno(EXDEV)
    public static let notDirectory = Errno(ENOTDIR)
    public static let noSpace = Errno(ENOSPC)
    public static let invalidArgument = Errno(EINVAL)
}

extension Errno {
    /// Sets the thread's errno to 0, before a call that reports failure only through it.
    public static func reset() { Glibc.errno = 0 }
}
