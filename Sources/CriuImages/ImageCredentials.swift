/// The credentials in a thread's core image (thread_core.creds). criu's
/// restorer applies them while it still holds criu's capabilities, so these
/// decide what the restored task will be: they must be the caller's, with
/// no capability in any set.
public struct ImageCredentials: Sendable, Equatable {
    public var uids: [UInt32]          // uid, euid, suid, fsuid
    public var gids: [UInt32]          // gid, egid, sgid, fsgid
    public var capInh: [UInt32]
    public var capPrm: [UInt32]
    public var capEff: [UInt32]
    public var capBnd: [UInt32]
    public var capAmb: [UInt32]
    public var secureBits: UInt32
    public var groups: [UInt32]
    public var lsmProfile: String?
    public var lsmSocketCreate: String?
    public var hasAppArmorData: Bool
    public var noNewPrivileges: UInt32?

    // creds_entry field numbers (images/creds.proto)
    static let known: Set<UInt32> = Set(1...19)

    public init(_ m: ProtobufMessage) throws(ImageError) {
        try m.requireOnly(Self.known, in: "creds")
        uids = [try m.requiredUInt32(1, "uid"), try m.requiredUInt32(3, "euid"),
                try m.requiredUInt32(5, "suid"), try m.requiredUInt32(7, "fsuid")]
        gids = [try m.requiredUInt32(2, "gid"), try m.requiredUInt32(4, "egid"),
                try m.requiredUInt32(6, "sgid"), try m.requiredUInt32(8, "fsgid")]
        capInh = try m.repeatedUInt32(9, "cap_inh")
        capPrm = try m.repeatedUInt32(10, "cap_prm")
        capEff = try m.repeatedUInt32(11, "cap_eff")
        capBnd = try m.repeatedUInt32(12, "cap_bnd")
        secureBits = try m.requiredUInt32(13, "secbits")
        groups = try m.repeatedUInt32(14, "groups")
        lsmProfile = try m.string(15, "lsm_profile")
        lsmSocketCreate = try m.string(16, "lsm_sockcreate")
        hasAppArmorData = try m.bytes(17, "apparmor_data") != nil
        noNewPrivileges = try m.uint32(18, "no_new_privs")
        capAmb = try m.repeatedUInt32(19, "cap_amb")
    }

    /// Refuses anything but the caller's own, capability-free credentials.
    /// `who` names the thread in messages ("thread 1234").
    public func check(against caller: CallerCredentials, who: String) throws(ImageError) {
        let uidNames = ["uid", "euid", "suid", "fsuid"]
        for (i, uid) in uids.enumerated() where uid != caller.uid {
            throw .forbidden(file: "", "\(who) has \(uidNames[i]) \(uid), not the caller's \(caller.uid)")
        }
        let gidNames = ["gid", "egid", "sgid", "fsgid"]
        for (i, gid) in gids.enumerated() where !caller.groups.contains(gid) {
            throw .forbidden(file: "", "\(who) has \(gidNames[i]) \(gid), not one of the caller's groups (\(caller.groupList))")
        }
        for gid in groups where !caller.groups.contains(gid) {
            throw .forbidden(file: "", "\(who) has supplementary group \(gid), not one of the caller's groups (\(caller.groupList))")
        }
        for (name, words) in [("cap_inh", capInh), ("cap_prm", capPrm), ("cap_eff", capEff), ("cap_amb", capAmb)] {
            if let i = words.firstIndex(where: { $0 != 0 }) {
                throw .forbidden(file: "", "\(who) has capabilities in \(name) (word \(i) = 0x\(String(words[i], radix: 16)))")
            }
        }
        guard secureBits == 0 else { throw .forbidden(file: "", "\(who) has securebits 0x\(String(secureBits, radix: 16))") }
        if let p = lsmProfile, !p.isEmpty, p != "unconfined" {
            throw .forbidden(file: "", "\(who) has an LSM profile (\(p))")
        }
        if let p = lsmSocketCreate, !p.isEmpty { throw .forbidden(file: "", "\(who) has an LSM socket context (\(p))") }
        guard !hasAppArmorData else { throw .forbidden(file: "", "\(who) carries AppArmor data") }
        if caller.requireNoNewPrivileges && noNewPrivileges != 1 {
            throw .forbidden(file: "", "\(who) was not dumped with no_new_privs, as policy requires")
        }
    }
}
