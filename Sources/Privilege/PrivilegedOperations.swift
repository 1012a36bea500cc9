import AuditLog
import LinuxSystem

/// The privileged surface of criu-helper: every act that needs a capability,
/// one function each, in this one file (as bubblewrap's `privileged_op()`).
/// Each function raises the capability its act needs, only for the system
/// call or the fork that needs it, and lowers it again; the raising itself
/// (CapabilityState) is internal to this module, and a test checks that
/// nothing else in the sources raises one. A reviewer who has read this file
/// and the C it calls (CSystem/spawn.c, reaper.c, supervisor.c) has read
/// every place criu-helper uses privilege.
///
/// | act                    | capability                         | why |
/// |------------------------|------------------------------------|-----|
/// | writeAuditRecord       | cap_audit_write                    | a USER_CMD record |
/// | mountPrivateCopy       | cap_sys_admin                      | fsopen/fsmount of a tmpfs mounted nowhere |
/// | startJob               | cap_sys_admin                      | clone(NEWPID|NEWNS), mount its /proc, ns_last_pid |
/// | startJob(private network) | cap_sys_admin + cap_net_admin   | the same with NEWNET, and `lo` up in it |
/// | startCriuRestoring     | cap_sys_admin (+ cap_net_admin); criu: cap_checkpoint_restore | the same, with criu as the child |
/// | startCriu              | criu: cap_checkpoint_restore       | criu in the helper's namespaces |
/// | startCriu(entering:)   | cap_sys_admin + cap_sys_chroot; criu: cap_checkpoint_restore | setns() into the job's mount namespace needs both (its network namespace, cap_sys_admin) |
///
/// criu gets `criuCapabilities` and nothing else, always: the set is a
/// constant of this file, chosen from nothing an image or the caller says.
public struct Privileges: ~Copyable {
    var state: CapabilityState

    /// criu's capability set, as measured (README, "Capabilities"): it dumps
    /// and restores the caller's own tasks with this alone.
    public static let criuCapabilities: CapabilitySet = .checkpointRestore

    /// Takes control of exactly the installed capabilities, all merely
    /// permitted. Refused when the kernel did not grant them all.
    public static func takeControl() throws(CapabilityError) -> Privileges {
        Privileges(state: try CapabilityState.takeControl(required: .installed))
    }

    /// For `criu-helper check`: whatever part of the installed set this
    /// process has, so that a broken installation can still be reported on.
    public static func takeControlOfWhatIsThere() throws(CapabilityError) -> Privileges {
        let permitted = try ProcessCapabilities.current().permitted
        return Privileges(state: try CapabilityState.takeControl(required: permitted.intersection(.installed)))
    }

    public var permitted: CapabilitySet { state.permitted }

    /// Gives up every capability for good.
    public consuming func dropAll() throws(CapabilityError) {
        try state.dropAll()
    }

    // MARK: - The acts

    /// A kernel audit record (cap_audit_write).
    public func writeAuditRecord(_ record: AuditRecord, to trail: borrowing AuditTrail) throws(AuditError) {
        try state.with(effective: .auditWrite) { () throws(AuditError) in try trail.send(record) }
    }

    /// The private copy restore validates and criu reads: a tmpfs mounted
    /// nowhere, owned by the caller (cap_sys_admin for fsopen).
    public func mountPrivateCopy(bytes: Int64, inodes: Int, owner: UInt32, group: UInt32) throws(SystemError) -> FileDescriptor {
        try state.with(effective: .sysAdmin) { () throws(SystemError) in
            try DetachedTmpfs.create(bytes: bytes, inodes: inodes, owner: owner, group: group)
        }
    }

    /// `run`: the job's PID and mount namespaces with the reaper as PID 1
    /// (cap_sys_admin for the clone, its /proc and ns_last_pid, inherited by
    /// the reaper only until it has forked the job); with `privateNetwork`
    /// a network namespace too, whose `lo` the reaper brings up
    /// (cap_net_admin, the same way). The job itself drops every capability
    /// before it execs, whatever `job` says.
    public func startJob(_ job: ChildSpec, privateNetwork: Bool) throws(StartFailure) -> JobReaper {
        var spec = job
        spec.dropCapabilities = true
        spec.ambient = .none
        spec.noNewPrivileges = true
        return try state.with(effective: Self.namespaceCapabilities(privateNetwork: privateNetwork)) { () throws(StartFailure) in
            try JobReaper.startJob(spec, lastPID: 300, privateNetwork: privateNetwork)
        }
    }

    /// `restore`: fresh PID and mount namespaces whose reaper starts criu
    /// with `criuCapabilities` as its ambient set (inheritable for the
    /// fork only) and cap_sys_admin for the clone; with `privateNetwork` a
    /// network namespace too, as startJob makes it.
    public func startCriuRestoring(_ criu: ChildSpec, program: borrowing FileDescriptor, passing: borrowing FileDescriptor,
                                   lastPID: Int32, privateNetwork: Bool) throws(StartFailure) -> JobReaper {
        let spec = Self.criuSpec(criu)
        let effective = Self.namespaceCapabilities(privateNetwork: privateNetwork)
        return try state.with(effective: effective, inheritable: Self.criuCapabilities) { () throws(StartFailure) in
            try JobReaper.startCriu(spec, program: program, passing: passing, lastPID: lastPID, privateNetwork: privateNetwork)
        }
    }

    /// What the reaper's clone and set-up need: cap_sys_admin, and
    /// cap_net_admin for the loopback of a private network.
    static func namespaceCapabilities(privateNetwork: Bool) -> CapabilitySet {
        privateNetwork ? [.sysAdmin, .netAdmin] : .sysAdmin
    }

    /// criu in the helper's own namespaces, with `criuCapabilities` as its
    /// ambient set (inheritable for the fork only).
    public func startCriu(_ criu: ChildSpec, program: borrowing FileDescriptor,
                          passing: borrowing FileDescriptor) throws(StartFailure) -> CriuSupervisor {
        let spec = Self.criuSpec(criu)
        return try state.with(effective: .none, inheritable: Self.criuCapabilities) { () throws(StartFailure) in
            try CriuSupervisor.start(spec, program: program, passing: passing)
        }
    }

    /// criu inside a job's namespaces: the supervisor enters `mount`,
    /// `network` and `pid` (setns() into a mount namespace needs
    /// cap_sys_admin and cap_sys_chroot, into a network namespace
    /// cap_sys_admin, effective for the fork only; the supervisor drops them
    /// before criu runs) and starts criu with `criuCapabilities`. The
    /// namespaces must have been verified (JobNamespaces).
    public func startCriu(_ criu: ChildSpec, program: borrowing FileDescriptor, passing: borrowing FileDescriptor,
                          entering mount: borrowing NamespaceFile, _ pid: borrowing NamespaceFile,
                          _ network: borrowing NamespaceFile, reaper: borrowing PidFD) throws(StartFailure) -> CriuSupervisor {
        let spec = Self.criuSpec(criu)
        let reaperFD = reaper.rawValue
        return try state.with(effective: [.sysAdmin, .sysChroot], inheritable: Self.criuCapabilities) { () throws(StartFailure) in
            try CriuSupervisor.start(spec, program: program, passing: passing, entering: mount, pid, network, reaper: reaperFD)
        }
    }

    /// What every criu gets: its capability set and nothing else, no_new_privs.
    static func criuSpec(_ criu: ChildSpec) -> ChildSpec {
        var spec = criu
        spec.ambient = criuCapabilities
        spec.dropCapabilities = false
        spec.noNewPrivileges = true
        // criu is dumpable (it makes itself so) while it holds its
        // capability, and the caller may raise its core limit (prlimit
        // needs only matching ids): its working directory is one the caller
        // cannot write, so a core file of it lands nowhere the caller reads
        // (with the kernel's default core_pattern).
        spec.workingDirectoryRoot = true
        return spec
    }
}
