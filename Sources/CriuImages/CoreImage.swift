/// What the helper checks in core-TID.img (images/core.proto).
public struct CoreImage: Sendable {
    public var credentials: ImageCredentials
    public var namespaces: NamespaceIDs?
    public var hasTaskCore: Bool
    /// task_core.task_state was TASK_STOPPED (3): the task was stopped when
    /// it was dumped, and stays stopped when restored.
    public var wasStopped = false
    /// task_core.stop_signo of a stopped task when it is a job-control stop
    /// (SIGTSTP, SIGTTIN, SIGTTOU: 20-22); nil for SIGSTOP, or none.
    public var stopSignal: Int32?

    // core_entry: mtype 1, thread_info 2, tc 3, ids 4, thread_core 5, other architectures 6, 8-13.
    static let knownCore: Set<UInt32> = [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13]
    static let knownThreadCore: Set<UInt32> = Set(1...16)
    static let knownTaskCore: Set<UInt32> = Set(1...15).union([18, 20, 21, 22])

    /// True if `bytes` is the core image criu writes for a zombie, and
    /// nothing more: the architecture and a task core saying TASK_DEAD (2),
    /// without thread_info, thread_core (so no credentials), ids, a cgroup
    /// set or a seccomp mode.
    public static func isDeadTask(_ bytes: [UInt8]) -> Bool {
        guard let core = try? ImageFile.single(bytes, magic: ImageKind.core(0).magic!),
              (try? core.requireOnly([1, 3], in: "core")) != nil,
              (try? core.requiredUInt32(1, "mtype")) == 1,
              let tc = try? core.message(3, "tc"),
              (try? tc.requireOnly(knownTaskCore, in: "task_core")) != nil else { return false }
        // As for a live task: no cgroup set, no seccomp mode.
        for (field, name) in [(UInt32(9), "cg_set"), (11, "old_seccomp_mode")] {
            do { if let value = try tc.uint32(field, name), value != 0 { return false } } catch { return false }
        }
        return (try? tc.requiredUInt32(1, "task_state")) == 2
    }

    /// Parses and checks one thread's core image. `isLeader`: the thread is
    /// the process's main thread (only that one carries the task core).
    public init(_ bytes: [UInt8], isLeader: Bool, who: String) throws(ImageError) {
        let core = try ImageFile.single(bytes, magic: ImageKind.core(0).magic!)
        try core.requireOnly(Self.knownCore, in: "core")
        guard try core.requiredUInt32(1, "mtype") == 1 else { throw .forbidden(file: "", "not an x86_64 image") }
        guard try core.message(2, "thread_info") != nil else { throw .malformed(file: "", "no thread_info") }

        // Without thread_core.creds criu falls back to the legacy creds-TID.img:
        // a core without them is refused rather than trusted to that file.
        guard let thread = try core.message(5, "thread_core") else { throw .forbidden(file: "", "\(who) has no thread_core") }
        try thread.requireOnly(Self.knownThreadCore, in: "thread_core")
        guard let creds = try thread.message(10, "creds") else {
            throw .forbidden(file: "", "\(who) has no credentials in its core (criu would read a legacy creds image)")
        }
        credentials = try ImageCredentials(creds)
        if let mode = try thread.uint32(11, "seccomp_mode"), mode != 0 {
            throw .forbidden(file: "", "\(who) has a seccomp filter")
        }
        if let cg = try thread.uint32(16, "cg_set"), cg != 0 { throw .forbidden(file: "", "\(who) names a cgroup set") }
        if let sig = try thread.uint32(8, "pdeath_sig"), sig > 64 { throw .malformed(file: "", "pdeath_sig \(sig)") }

        let taskCore = try core.message(3, "tc")
        hasTaskCore = taskCore != nil
        if let tc = taskCore {
            try tc.requireOnly(Self.knownTaskCore, in: "task_core")
            wasStopped = try tc.uint32(1, "task_state") == 3
            if wasStopped, let signo = try tc.uint32(21, "stop_signo") {
                guard (1...64).contains(signo) else { throw .malformed(file: "", "\(who) was stopped by signal \(signo)") }
                if (20...22).contains(signo) { stopSignal = Int32(signo) }
            }
            if let cg = try tc.uint32(9, "cg_set"), cg != 0 { throw .forbidden(file: "", "\(who) names a cgroup set") }
            if let mode = try tc.uint32(11, "old_seccomp_mode"), mode != 0 {
                throw .forbidden(file: "", "\(who) has a seccomp filter")
            }
        } else if isLeader {
            throw .malformed(file: "", "\(who) is a process but has no task core")
        }
        namespaces = try core.message(4, "ids").map { m throws(ImageError) in try NamespaceIDs(m) }
    }
}
