import Glibc

/// A pidfd: a handle on one process that stays valid if the PID number is
/// reused. The helper pins every task it checks with one.
public struct PidFD: ~Copyable {
    public let pid: Int32
    public let rawValue: Int32

    public init(pid: Int32) throws(SystemError) {
        let fd = sys_pidfd_open(pid)
        guard fd >= 0 else { throw SystemError("pidfd_open", String(pid)) }
        self.pid = pid
        self.rawValue = fd
    }

    deinit { sys_close(rawValue) }

    /// True while the pinned process has not been reaped. Since a live
    /// process keeps its PID, this also proves the PID still means it.
    public var isAlive: Bool {
        // Signal 0 checks existence; EPERM means it exists but is not ours to signal.
        sys_pidfd_send_signal(rawValue, 0) == 0 || Errno.current == .notPermitted
    }

    /// Signals the pinned process, never whoever holds its PID now.
    public func send(_ signal: Int32) throws(SystemError) {
        guard sys_pidfd_send_signal(rawValue, signal) == 0 else { throw SystemError("pidfd_send_signal", String(pid)) }
    }
}

extension FileDescriptor {
    /// A pidfd as a bare number, for code that keeps it for a process's
    /// whole life; close it with `closeRaw`.
    public static func pidfd(_ pid: Int32) throws(SystemError) -> Int32 {
        let fd = sys_pidfd_open(pid)
        guard fd >= 0 else { throw SystemError("pidfd_open", String(pid)) }
        return fd
    }
    public static func closeRaw(_ fd: Int32) { sys_close(fd) }
}
