import CCap
import LinuxSystem

/// The mechanism under Privileges: the calling thread's capability sets,
/// narrowed to the installed ones and changed only through the functions
/// below. Everything here is internal to this module, and the only code that
/// calls it is PrivilegedOperations.swift (a test checks the sources): no
/// other module can raise a capability.
///
/// Capabilities are per thread: the helper stays single-threaded while it
/// holds any (no Task, no Dispatch).
struct CapabilityState: ~Copyable {
    /// What stays permitted: exactly the installed set, whatever else the
    /// process started with.
    private(set) var permitted: CapabilitySet

    /// Reads the process's sets, refuses if `required` is not all permitted,
    /// then narrows: permitted = required, effective = none, inheritable =
    /// none, ambient cleared.
    static func takeControl(required: CapabilitySet) throws(CapabilityError) -> CapabilityState {
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
        return CapabilityState(permitted: required)
    }

    /// Runs `body` with `effective` raised and `inheritable` set (for a child
    /// to raise as ambient), and lowers both again afterwards, whatever
    /// `body` did. A raise that fails still runs `body`, whose privileged
    /// call then fails with EPERM: closed, not open.
    func with<T: ~Copyable, E: Error>(effective: CapabilitySet, inheritable: CapabilitySet = .none,
                                      _ body: () throws(E) -> T) throws(E) -> T {
        precondition(permitted.isSuperset(of: effective.union(inheritable)), "asked for capabilities beyond the permitted set")
        _ = try? ProcessCapabilities.apply(permitted: permitted, effective: effective, inheritable: inheritable)
        defer { lower() }
        return try body()
    }

    /// Gives up every capability: permitted, effective, inheritable, ambient.
    consuming func dropAll() throws(CapabilityError) {
        try ProcessCapabilities.apply(permitted: .none, effective: .none, inheritable: .none)
        guard chcap_ambient_clear_all() == 0 else { throw .systemCall("PR_CAP_AMBIENT_CLEAR_ALL") }
        let after = try ProcessCapabilities.current()
        guard after.permitted == .none, after.effective == .none else {
            throw .systemCall("capabilities survived dropAll (\(after.permitted))")
        }
    }

    private func lower() {
        do {
            try ProcessCapabilities.apply(permitted: permitted, effective: .none, inheritable: .none)
        } catch {
            // A capability that cannot be lowered again: stop here, fail safe.
            Kernel.writeError("criu-helper: internal error: cannot lower capabilities: \(error)\n")
            Kernel.exit(70)
        }
    }
}
