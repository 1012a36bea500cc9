import Glibc

/// A pidfd: a handle on one process that stays valid if the PID number is
/// reused. The helper pins every task it checks, and every process it starts,
/// with one.
public struct PidFD: ~Copyable {
    public let pid: Int32
    let fd: FileDescriptor

    public init(pid: Int32) throws(SystemError) {
        let raw = sys_pidfd_open(pid)
        guard raw >= 0 else { throw SystemError("pidfd_open", String(pid)) }
        self.pid = pid
        self.fd = FileDescriptor(adopting: raw)
    }

    /// The descriptor's number, for a C call that borrows it.
    public var rawValue: Int32 { fd.rawValue }

    /// True while the pinned process has not been reaped. Since a live
    /// process keeps its PID, this also proves the PID still means it.
    public var isAlive: Bool {
        // Signal 0 checks existence; EPERM means it exists but is not ours to signal.
        sys_pidfd_send_signal(fd.rawValue, Signal.probe.rawValue) == 0 || Errno.current == .notPermitted
    }

    /// Signals the pinned process, never whoever holds its PID now.
    public func send(_ signal: Signal) throws(SystemError) {
        guard sys_pidfd_send_signal(fd.rawValue, signal.rawValue) == 0 else {
            throw SystemError("pidfd_send_signal \(signal)", String(pid))
        }
    }
}
