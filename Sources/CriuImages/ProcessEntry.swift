/// One process of pstree.img.
public struct ProcessEntry: Sendable, Equatable {
    public var pid: UInt32
    public var ppid: UInt32
    public var processGroup: UInt32
    public var session: UInt32
    /// Thread ids; the process's own pid is among them. Empty for a zombie.
    public var threads: [UInt32]
    /// A zombie: criu recorded only its exit (a task core saying TASK_DEAD)
    /// and restores it as a process that has exited. criu 4.1.1 writes one
    /// arbitrary id as a zombie's thread, which nothing reads; it is dropped.
    public var isZombie = false
    /// Stopped when it was dumped (from its core image).
    public var wasStopped = false
    /// The job-control signal it was stopped by (SIGTSTP, SIGTTIN, SIGTTOU),
    /// or nil for SIGSTOP.
    public var stopSignal: Int32?

    init(_ m: ProtobufMessage) throws(ImageError) {
        try m.requireOnly([1, 2, 3, 4, 5], in: "pstree_entry")
        pid = try m.requiredUInt32(1, "pid")
        ppid = try m.requiredUInt32(2, "ppid")
        processGroup = try m.requiredUInt32(3, "pgid")
        session = try m.requiredUInt32(4, "sid")
        threads = try m.repeatedUInt32(5, "threads")
    }

    /// Reads and checks pstree.img: unique pids and thread ids, each
    /// process's own pid among its threads, parents inside the tree, bounded
    /// sizes. A process whose pid is not among its threads is accepted only
    /// as a zombie: never the root, at most one (ignored) thread id, and only
    /// if `isZombie(pid)` confirms it from the process's core image.
    public static func readTree(_ bytes: [UInt8], maximumTasks: Int, maximumThreads: Int, pidMax: UInt32,
                                isZombie: (UInt32) throws(ImageError) -> Bool) throws(ImageError) -> [ProcessEntry] {
        let messages = try ImageFile.entries(bytes, magic: ImageKind.pstree.magic!, maximumEntries: maximumTasks)
        var result: [ProcessEntry] = []
        var pids: Set<UInt32> = []
        var tids: Set<UInt32> = []
        for m in messages {
            var entry = try ProcessEntry(m)
            guard entry.pid >= 1, entry.pid <= pidMax else { throw .malformed(file: "", "pid \(entry.pid) out of range") }
            guard pids.insert(entry.pid).inserted else { throw .malformed(file: "", "pid \(entry.pid) appears twice") }
            if !entry.threads.contains(entry.pid) {
                guard !result.isEmpty, entry.threads.count <= 1, try isZombie(entry.pid) else {
                    throw .malformed(file: "", "pid \(entry.pid) is not among its own threads")
                }
                entry.isZombie = true
                entry.threads = []
            }
            for tid in entry.threads {
                guard tid >= 1, tid <= pidMax else { throw .malformed(file: "", "thread \(tid) out of range") }
                guard tids.insert(tid).inserted else { throw .malformed(file: "", "thread \(tid) appears twice") }
            }
            guard tids.count <= maximumThreads else { throw .malformed(file: "", "more than \(maximumThreads) threads") }
            result.append(entry)
        }
        guard !result.isEmpty else { throw .malformed(file: "", "no processes") }
        for entry in result.dropFirst() where !pids.contains(entry.ppid) {
            throw .malformed(file: "", "parent \(entry.ppid) of \(entry.pid) is not in the tree")
        }
        return result
    }
}
