/// What every task and thread of a tree must satisfy to be checkpointed on
/// the caller's behalf.
public struct TreePolicy: Sendable {
    public var callerUID: UInt32
    /// The caller's real gid and supplementary groups.
    public var callerGroups: Set<UInt32>
    /// The helper and its ancestors.
    public var excludedPIDs: Set<Int32>
    public var userNamespace: NamespaceID
    public var pidNamespace: NamespaceID
    /// Tasks must have no_new_privs: then none of them can gain privileges
    /// (a set-user-ID exec) between this check and criu freezing the tree.
    public var requireNoNewPrivileges: Bool
    public var maximumTasks: Int
    public var maximumThreads: Int

    public init(callerUID: UInt32, callerGroups: Set<UInt32>, excludedPIDs: Set<Int32>,
                userNamespace: NamespaceID, pidNamespace: NamespaceID,
                requireNoNewPrivileges: Bool, maximumTasks: Int = 4096, maximumThreads: Int = 65536) {
        self.callerUID = callerUID
        self.callerGroups = callerGroups
        self.excludedPIDs = excludedPIDs
        self.userNamespace = userNamespace
        self.pidNamespace = pidNamespace
        self.requireNoNewPrivileges = requireNoNewPrivileges
        self.maximumTasks = maximumTasks
        self.maximumThreads = maximumThreads
    }
}
