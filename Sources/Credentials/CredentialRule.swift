/// The one rule for whose credentials a task may have, applied at every
/// moment the helper looks at tasks: the live tree before a dump, every
/// thread's credentials in the images before a restore (and right after a
/// dump), and what the kernel really restored before the job may run. All
/// four uids the caller's, every gid and group one of the caller's, no
/// capability in any set, no securebits, and no_new_privs where the policy
/// asks for it. One message style: "task 4242 (thread 4244) has euid 0, not
/// the caller's 1001".
public struct CredentialRule: Sendable, Equatable {
    public var uid: UInt32
    /// The caller's real gid and supplementary groups.
    public var groups: Set<UInt32>
    /// Tasks must have no_new_privs (the configuration's require-no-new-privs).
    public var requireNoNewPrivileges: Bool

    public init(uid: UInt32, groups: Set<UInt32>, requireNoNewPrivileges: Bool) {
        self.uid = uid
        self.groups = groups
        self.requireNoNewPrivileges = requireNoNewPrivileges
    }

    public var groupList: String { groups.sorted().map(String.init).joined(separator: ",") }

    /// The first thing wrong with `credentials`, or nil. `subject` names the
    /// task in the message ("task 301", "restored task 301 (thread 302)").
    public func violation(_ credentials: Credentials, subject: String) -> CredentialViolation? {
        func fail(_ what: String) -> CredentialViolation { CredentialViolation(subject: subject, what: what) }
        for (i, value) in credentials.uids.enumerated() where value != uid {
            return fail("has \(Credentials.uidNames[min(i, 3)]) \(value), not the caller's \(uid)")
        }
        for (i, value) in credentials.gids.enumerated() where !groups.contains(value) {
            return fail("has \(Credentials.gidNames[min(i, 3)]) \(value), which is not one of the caller's groups (\(groupList))")
        }
        for value in credentials.groups where !groups.contains(value) {
            return fail("has supplementary group \(value), which is not one of the caller's groups (\(groupList))")
        }
        let sets: [(String, UInt64)] = [("CapInh", credentials.inheritable), ("CapPrm", credentials.permitted),
                                        ("CapEff", credentials.effective), ("CapAmb", credentials.ambient)]
        for (name, mask) in sets where mask != 0 {
            return fail("holds capabilities (\(name) \(Self.hex16(mask)))")
        }
        if credentials.secureBits != 0 {
            return fail("has securebits 0x\(String(credentials.secureBits, radix: 16))")
        }
        if requireNoNewPrivileges, credentials.noNewPrivileges == false {
            return fail("does not have no_new_privs set (start jobs with `criu-helper run` or `setpriv --no-new-privs`)")
        }
        return nil
    }

    static func hex16(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }
}

/// A task whose credentials break the rule: whom, and what was compared.
public struct CredentialViolation: Error, Sendable, Equatable, CustomStringConvertible {
    public var subject: String
    public var what: String
    public var description: String { "\(subject) \(what)" }
}
