import Credentials
import LinuxSystem

/// What every task and thread of a tree must satisfy to be checkpointed on
/// the caller's behalf.
public struct TreePolicy: Sendable {
    /// Whose credentials a task may have (the one rule of the helper).
    public var rule: CredentialRule
    /// The helper and its ancestors.
    public var excludedPIDs: Set<Int32>
    /// The namespaces every task must be in: the helper's user namespace,
    /// and the PID, mount and network namespaces criu will run in.
    public var userNamespace: NamespaceID
    public var pidNamespace: NamespaceID
    public var mountNamespace: NamespaceID
    public var networkNamespace: NamespaceID
    public var maximumTasks: Int
    public var maximumThreads: Int

    public init(rule: CredentialRule, excludedPIDs: Set<Int32>, userNamespace: NamespaceID, pidNamespace: NamespaceID,
                mountNamespace: NamespaceID, networkNamespace: NamespaceID, maximumTasks: Int = 4096, maximumThreads: Int = 65536) {
        self.rule = rule
        self.excludedPIDs = excludedPIDs
        self.userNamespace = userNamespace
        self.pidNamespace = pidNamespace
        self.mountNamespace = mountNamespace
        self.networkNamespace = networkNamespace
        self.maximumTasks = maximumTasks
        self.maximumThreads = maximumThreads
    }
}
