import CSystem

/// Identity of a namespace: the device and inode of its nsfs file.
public struct NamespaceID: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64
    public init(device: UInt64, inode: UInt64) { self.device = device; self.inode = inode }
    public var description: String { "\(inode)" }
}

/// An open namespace (an nsfs descriptor, /proc/PID/ns/KIND): it pins the
/// namespace itself, so what was checked is what setns() enters. Knows which
/// user namespace owns it — the one whose capabilities rule it: a namespace
/// owned by the initial user namespace can be changed only by root (or by
/// criu-helper while it holds CAP_SYS_ADMIN), never by the caller.
public struct NamespaceFile: ~Copyable {
    public enum Kind: Sendable, CustomStringConvertible {
        case mount, pid, user, network
        var cloneFlag: Int32 {
            switch self {
            case .network: return Int32(CHS_CLONE_NEWNET)
            case .mount: return Int32(CHS_CLONE_NEWNS)
            case .pid: return Int32(CHS_CLONE_NEWPID)
            case .user: return Int32(CHS_CLONE_NEWUSER)
            }
        }
        public var procName: String {
            switch self {
            case .mount: return "mnt"
            case .network: return "net"
            case .pid: return "pid"
            case .user: return "user"
            }
        }
        public var description: String {
            switch self {
            case .mount: return "mount"
            case .pid: return "PID"
            case .network: return "network"
            case .user: return "user"
            }
        }
    }

    public let kind: Kind
    public let descriptor: FileDescriptor
    public let identity: NamespaceID
    /// The user namespace that owns this one.
    public let owner: NamespaceID

    /// Opens `path` (/proc/PID/ns/mnt and the like, relative to `directory`,
    /// a /proc descriptor) and checks that it is a namespace of `kind`.
    public static func open(_ kind: Kind, _ path: String, in directory: borrowing FileDescriptor) throws(SystemError) -> NamespaceFile {
        let fd = try directory.open(path, .readOnly)
        guard sys_ns_type(fd.rawValue) == kind.cloneFlag else {
            throw SystemError("open namespace", path, errno: .invalidArgument)
        }
        let st = try fd.status()
        let ownerRaw = sys_ns_owner(fd.rawValue)
        guard ownerRaw >= 0 else { throw SystemError("NS_GET_USERNS", path) }
        let ownerStatus = try FileDescriptor(adopting: ownerRaw).status()
        return NamespaceFile(kind: kind, descriptor: fd, identity: NamespaceID(device: st.device, inode: st.inode),
                             owner: NamespaceID(device: ownerStatus.device, inode: ownerStatus.inode))
    }
}
