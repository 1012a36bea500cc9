import CCap
import LinuxSystem

/// The helper's capability state after start-up. There is one; it is not
/// copyable, and giving everything up (`dropAll`) consumes it, so no code can
/// use a capability after that point.
///
/// Capabilities are per thread: the helper stays single-threaded while it
/// holds any (no Task, no Dispatch).
public struct CapabilityGuard: ~Copyable {
    /// What stays permitted: exactly the installed set, whatever else the
    /// process started with (root starts with everything).
    public private(set) var permitted: CapabilitySet

    /// Reads the process's sets, refuses if `required` is not all permitted,
    /// then narrows: permitted = required, effective = none, inheritable =
    /// none, ambient cleared. From here on a capability is effective only
    /// inside `withEffective`.
    public static func takeControl(required: CapabilitySet) throws(CapabilityError) -> CapabilityGuard {
        let current = try ProcessCapabilities.current()
        let missing = required.subtracting(current.permitted)
        guard missing.isEmpty else {
            throw .missing(missing, noNewPrivileges: Kernel.hasNoNewPrivileges)
        }
        try ProcessCapabilities.apply(permitted: required, effective: .none, inheritable: .none)
        guard chcap_ambient_clear_all() == 0 else { throw .systemCall("PR_CAP_AMBIENT_CLEAR_ALL") }
        let after = try ProcessCapabilities.current()
        guard after.permitted == required, after.effective == .none, after.inheritable == .none else {
            throw .systemCall("sets did not narrow (permitted \(after.permitted))")
        }
        return CapabilityGuard(permitted: required)
    }

    /// Runs `body` with `caps` effective, and lowers them again afterwards.
    /// If raising fails, `body` still runs and its privileged call fails with
    /// EPERM: the failure is closed, not open.
    public func withEffective<T, E: Error>(_ caps: CapabilitySet, _ body: () throws(E) -> T) throws(E) -> T {
        precondition(permitted.isSuperset(of: caps), "asked for \(caps) beyond the permitted set")
        _ = try? ProcessCapabilities.apply(permitted: permitted, effective: caps, inheritable: currentInheritable())
        defer { lowerEffective() }
        return try body()
    }

    /// Makes `caps` inheritable so that a child can raise them as ambient
    /// before it execs criu. Cleared again by `clearInheritable`.
    public func makeInheritable(_ caps: CapabilitySet) throws(CapabilityError) {
        precondition(permitted.isSuperset(of: caps))
        try ProcessCapabilities.apply(permitted: permitted, effective: .none, inheritable: caps)
    }

    public func clearInheritable() {
        lowerEffective()
    }

    /// Gives up `caps` for good (for example cap_audit_write after the last record).
    public mutating func drop(_ caps: CapabilitySet) throws(CapabilityError) {
        let kept = permitted.subtracting(caps)
        try ProcessCapabilities.apply(permitted: kept, effective: .none, inheritable: .none)
        permitted = kept
    }

    /// Gives up every capability: permitted, effective, inheritable, ambient.
    public consuming func dropAll() throws(CapabilityError) {
        try ProcessCapabilities.apply(permitted: .none, effective: .none, inheritable: .none)
        guard chcap_ambient_clear_all() == 0 else { throw .systemCall("PR_CAP_AMBIENT_CLEAR_ALL") }
        let after = try ProcessCapabilities.current()
        guard after.permitted == .none, after.effective == .none else {
            throw .systemCall("capabilities survived dropAll (\(after.permitted))")
        }
    }

    private func currentInheritable() -> CapabilitySet {
        (try? ProcessCapabilities.current().inheritable) ?? .none
    }

    private func lowerEffective() {
        do {
            try ProcessCapabilities.apply(permitted: permitted, effective: .none, inheritable: .none)
        } catch {
            // A capability that cannot be lowered again: stop here, fail safe.
            Kernel.writeError("criu-helper: internal error: cannot lower effective capabilities: \(error)\n")
            Kernel.exit(70)
        }
    }
}
