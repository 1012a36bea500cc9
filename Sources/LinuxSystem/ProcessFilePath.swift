/// A file of a process in /proc, in canonical form: /proc/PID,
/// /proc/PID/task/TID, or one of `readableLeaves` below either. A job may
/// keep such files of its own tasks open: criu opens them again in the
/// job's own /proc (the job's PID namespace, mounted by the helper), where
/// PID numbers a task of the job, once the image validator has checked that
/// it does; the post-restore check reads back what each descriptor is.
public struct ProcessFilePath: Sendable, Equatable {
    public var pid: UInt32
    public var tid: UInt32?
    /// nil: the process's (or thread's) directory itself.
    public var leaf: String?

    /// What any process may read of its own tasks. Not mem, pagemap,
    /// environ or map_files (criu's capability, or the opener's, decides
    /// what those give), not fd, ns, root, cwd or exe (links to other
    /// files), not attr or anything written to.
    public static let readableLeaves: Set<String> = [
        "stat", "status", "statm", "maps", "smaps", "smaps_rollup", "cmdline", "comm", "limits", "cgroup",
        "io", "oom_score", "schedstat", "wchan", "mountinfo", "mounts", "numa_maps",
    ]

    /// nil for anything that is not such a path, spelled as the kernel spells it.
    public init?(_ path: String) {
        guard path.hasPrefix("/proc/") else { return nil }
        let parts = path.dropFirst(6).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        func number(_ s: String) -> UInt32? {
            guard !s.isEmpty, s.count <= 10, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), s.count == 1 || s.first != "0",
                  let n = UInt32(s), n > 0 else { return nil }
            return n
        }
        guard let pid = number(parts[0]) else { return nil }
        var rest = parts.dropFirst()
        var tid: UInt32? = nil
        if rest.first == "task" {
            guard rest.count >= 2, let t = number(rest[rest.startIndex + 1]) else { return nil }
            tid = t
            rest = rest.dropFirst(2)
        }
        switch rest.count {
        case 0: leaf = nil
        case 1 where Self.readableLeaves.contains(rest.first!): leaf = rest.first!
        default: return nil
        }
        self.pid = pid
        self.tid = tid
    }
}
