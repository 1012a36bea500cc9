/// Who is asking: images must describe tasks with exactly these credentials.
public struct CallerCredentials: Sendable, Equatable {
    public var uid: UInt32
    /// Real gid plus supplementary groups.
    public var groups: Set<UInt32>
    /// Tasks were dumped with no_new_privs (the policy at dump time), so
    /// every image must say so.
    public var requireNoNewPrivileges: Bool

    public init(uid: UInt32, groups: Set<UInt32>, requireNoNewPrivileges: Bool) {
        self.uid = uid
        self.groups = groups
        self.requireNoNewPrivileges = requireNoNewPrivileges
    }

    var groupList: String { groups.sorted().map(String.init).joined(separator: ",") }
}
