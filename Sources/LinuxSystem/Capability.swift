/// The capabilities criu-helper knows by name (linux/capability.h numbers).
public enum Capability: Int32, CaseIterable, Sendable, CustomStringConvertible {
    /// CAP_NET_ADMIN: `lo` up in the network namespace the helper makes for a
    /// job of `run --private-network` (and its restore), in the reaper before
    /// it forks. Never handed to criu.
    case netAdmin = 12
    /// CAP_SYS_CHROOT: with CAP_SYS_ADMIN, setns() into a job's mount
    /// namespace, in the supervisor that then starts criu there.
    case sysChroot = 18
    /// CAP_SYS_PTRACE: never held. Named so that `check` can say it is absent:
    /// criu must not be able to seize tasks the caller could not trace.
    case sysPtrace = 19
    /// CAP_SYS_ADMIN: the helper's private tmpfs and the job's PID and mount
    /// namespaces (with their /proc and ns_last_pid). Never handed to criu.
    case sysAdmin = 21
    /// CAP_AUDIT_WRITE: the helper's own audit records; never passed on.
    case auditWrite = 29
    /// CAP_CHECKPOINT_RESTORE (Linux >= 5.9): criu's one capability
    /// (set_tid, map_files, PR_SET_MM).
    case checkpointRestore = 40

    public var description: String {
        switch self {
        case .netAdmin: return "cap_net_admin"
        case .sysChroot: return "cap_sys_chroot"
        case .sysPtrace: return "cap_sys_ptrace"
        case .sysAdmin: return "cap_sys_admin"
        case .auditWrite: return "cap_audit_write"
        case .checkpointRestore: return "cap_checkpoint_restore"
        }
    }
}

/// A set of capabilities as a 64-bit mask, bit N for capability N, the way
/// /proc/PID/status prints them.
public struct CapabilitySet: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ caps: [Capability]) {
        self.rawValue = caps.reduce(0) { $0 | (1 << UInt64($1.rawValue)) }
    }

    public static var none: CapabilitySet { [] }
    public static let netAdmin = CapabilitySet([Capability.netAdmin])
    public static let sysChroot = CapabilitySet([Capability.sysChroot])
    public static let sysPtrace = CapabilitySet([Capability.sysPtrace])
    public static let sysAdmin = CapabilitySet([Capability.sysAdmin])
    public static let auditWrite = CapabilitySet([Capability.auditWrite])
    public static let checkpointRestore = CapabilitySet([Capability.checkpointRestore])
    /// The file capabilities of an installed criu-helper (install/setcap.sh),
    /// all permitted only: cap_checkpoint_restore for criu; cap_sys_admin for
    /// the private tmpfs and the job's PID and mount namespaces;
    /// cap_sys_chroot (with cap_sys_admin) to enter a job's mount namespace;
    /// cap_audit_write for the helper's own audit records; cap_net_admin for
    /// the loopback of a private network.
    public static let installed = CapabilitySet([.netAdmin, .sysAdmin, .sysChroot, .auditWrite, .checkpointRestore])

    public func contains(_ cap: Capability) -> Bool { rawValue & (1 << UInt64(cap.rawValue)) != 0 }

    /// Members as capability numbers, lowest first.
    public var numbers: [Int32] { (0..<64).filter { rawValue & (1 << UInt64($0)) != 0 }.map(Int32.init) }

    /// "cap_sys_chroot,cap_sys_admin", or "cap_N" for numbers without a name here.
    public var description: String {
        if rawValue == 0 { return "none" }
        return numbers.map { n in Capability(rawValue: n)?.description ?? "cap_\(n)" }.joined(separator: ",")
    }
}
