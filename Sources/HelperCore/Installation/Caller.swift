import LinuxSystem

/// The user on whose behalf the helper acts: its real uid and groups. A
/// binary with file capabilities keeps the caller's uids, so real, effective
/// and saved must all be equal; anything else means a set-user-ID install.
public struct Caller: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var groups: Set<UInt32>

    public static func identify() throws(HelperFailure) -> Caller {
        let id = Kernel.identity()
        guard id.realUID == id.effectiveUID, id.realUID == id.savedUID,
              id.realGID == id.effectiveGID, id.realGID == id.savedGID else {
            throw .unavailable("criu-helper must not be set-user-ID or set-group-ID (uids \(id.realUID)/\(id.effectiveUID)/\(id.savedUID))")
        }
        guard id.realUID != 0 else {
            throw .refused("the caller is root; root runs criu directly, criu-helper is for unprivileged users")
        }
        return Caller(uid: id.realUID, gid: id.realGID, groups: id.groups)
    }
}
