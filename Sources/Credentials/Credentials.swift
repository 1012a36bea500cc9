/// A task's credentials, wherever they were read: /proc/PID/status of a live
/// task (the tree check before a dump, the restored-tree check after a
/// restore) or thread_core.creds in an image (the validator).
public struct Credentials: Sendable, Equatable {
    /// Real, effective, saved and file-system uid.
    public var uids: [UInt32]
    /// Real, effective, saved and file-system gid.
    public var gids: [UInt32]
    public var groups: [UInt32]
    /// Inheritable, permitted, effective and ambient capabilities, each a
    /// 64-bit mask (an image's 32-bit words joined, low word first).
    public var inheritable: UInt64
    public var permitted: UInt64
    public var effective: UInt64
    public var ambient: UInt64
    /// nil where the source does not say (a zombie's /proc).
    public var noNewPrivileges: Bool?
    public var secureBits: UInt32

    public init(uids: [UInt32], gids: [UInt32], groups: [UInt32], inheritable: UInt64, permitted: UInt64,
                effective: UInt64, ambient: UInt64, noNewPrivileges: Bool?, secureBits: UInt32 = 0) {
        self.uids = uids
        self.gids = gids
        self.groups = groups
        self.inheritable = inheritable
        self.permitted = permitted
        self.effective = effective
        self.ambient = ambient
        self.noNewPrivileges = noNewPrivileges
        self.secureBits = secureBits
    }

    public static let uidNames = ["uid", "euid", "suid", "fsuid"]
    public static let gidNames = ["gid", "egid", "sgid", "fsgid"]

    /// 32-bit capability words (as criu writes them) as one 64-bit mask; a
    /// word beyond the second is an error, not ignored.
    public static func mask(words: [UInt32]) -> UInt64? {
        guard words.count <= 2 || words.dropFirst(2).allSatisfy({ $0 == 0 }) else { return nil }
        return words.enumerated().prefix(2).reduce(UInt64(0)) { $0 | UInt64($1.element) << (32 * UInt64($1.offset)) }
    }
}
