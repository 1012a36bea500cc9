import Credentials

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

    /// The credentials as the one rule sees them; nil when a capability
    /// word beyond the second is set (refused as it stands).
    public var asCredentials: Credentials? {
        guard let inh = Credentials.mask(words: capInh), let prm = Credentials.mask(words: capPrm),
              let eff = Credentials.mask(words: capEff), let amb = Credentials.mask(words: capAmb) else { return nil }
        return Credentials(uids: uids, gids: gids, groups: groups, inheritable: inh, permitted: prm, effective: eff,
                           ambient: amb, noNewPrivileges: noNewPrivileges == 1, secureBits: secureBits)
    }

    /// The credential rule (CredentialRule, the same one the tree check and
    /// the restored-tree check apply), then what only images can carry: an
    /// LSM profile or socket context, AppArmor data. `who` names the thread
    /// in messages ("task 1234 (thread 1235)").
    public func check(against rule: CredentialRule, who: String) throws(ImageError) {
        guard let credentials = asCredentials else {
            throw .forbidden(file: "", "\(who) has capability words beyond the kernel's 64 capabilities")
        }
        if let violation = rule.violation(credentials, subject: who) { throw .forbidden(file: "", violation.description) }
        if let p = lsmProfile, !p.isEmpty, p != "unconfined" {
            throw .forbidden(file: "", "\(who) has an LSM profile (\(p))")
        }
        if let p = lsmSocketCreate, !p.isEmpty { throw .forbidden(file: "", "\(who) has an LSM socket context (\(p))") }
        guard !hasAppArmorData else { throw .forbidden(file: "", "\(who) carries AppArmor data") }
    }
}
