import CAudit
import Glibc
import LinuxSystem

/// The kernel audit connection (libaudit's netlink socket). Owned, closed
/// when the value goes away.
public struct AuditTrail: ~Copyable {
    private let socket: Int32

    /// audit_open(3). Fails when the kernel has no audit support.
    public static func open() throws(AuditError) -> AuditTrail {
        let fd = audit_open()
        guard fd >= 0 else { throw .unavailable("audit_open: \(Errno.current)") }
        return AuditTrail(socket: fd)
    }

    private init(socket: Int32) { self.socket = socket }

    deinit { audit_close(socket) }

    /// Sends one USER_CMD record: the helper runs a privileged command on the
    /// caller's behalf, as sudo does, and USER_CMD is the record type audit
    /// tools group such commands under (`ausearch -m USER_CMD`).
    ///
    /// CAP_AUDIT_WRITE must be effective. libaudit returns 0 without an error
    /// when it is not (or when the kernel refused), so anything but a positive
    /// sequence number is a failure here: fail closed.
    public func send(_ record: AuditRecord) throws(AuditError) {
        let message = record.message(encode: AuditTrail.encode)
        Errno.reset()
        let result = audit_log_user_message(socket, Int32(AUDIT_USER_CMD), message, nil, nil, nil, record.success ? 1 : 0)
        guard result > 0 else {
            let errno = Errno.current
            throw .notWritten(result == 0 && errno.rawValue == 0 ? "no permission to write (CAP_AUDIT_WRITE)" : "\(errno)")
        }
    }

    /// audit_encode_nv_string(3): `key="value"` when the value is plain,
    /// `key=HEX` when it holds spaces, quotes or control characters.
    static func encode(_ key: String, _ value: String) -> String {
        let count = UInt32(value.utf8.count)
        guard let encoded = audit_encode_nv_string(key, value, count) else { return "\(key)=?" }
        defer { free(encoded) }
        return String(cString: encoded)
    }
}
