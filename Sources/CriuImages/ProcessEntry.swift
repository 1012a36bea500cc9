/// One process of pstree.img.
public struct ProcessEntry: Sendable, Equatable {
    public var pid: UInt32
    public var ppid: UInt32
    public var processGroup: UInt32
    public var session: UInt32
    /// Thread ids; the process's own pid is among them.
    public var threads: [UInt32]

    init(_ m: ProtobufMessage) throws(ImageError) {
        try m.requireOnly([1, 2, 3, 4, 5], in: "pstree_entry")
        pid = try m.requiredUInt32(1, "pid")
        ppid = try m.requiredUInt32(2, "ppid")
        processGroup = try m.requiredUInt32(3, "pgid")
        session = try m.requiredUInt32(4, "sid")
        threads = try m.repeatedUInt32(5, "threads")
    }

    /// Reads and checks pstree.img: unique pids and thread ids, each
    /// process's own pid among its threads, parents inside the tree, bounded sizes.
    public static func readTree(_ bytes: [UInt8], maximumTasks: Int, maximumThreads: Int,
                                pidMax: UInt32) throws(ImageError) -> [ProcessEntry] {
        let messages = try ImageFile.entries(bytes, magic: ImageKind.pstree.magic!, maximumEntries: maximumTasks)
        var result: [ProcessEntry] = []
        var pids: Set<UInt32> = []
        var tids: Set<UInt32> = []
        for m in messages {
            let entry = try ProcessEntry(m)
            guard entry.pid >= 1, entry.pid <= pidMax else { throw .malformed(file: "", "pid \(entry.pid) out of range") }
            guard pids.insert(entry.pid).inserted else { throw .malformed(file: "", "pid \(entry.pid) appears twice") }
            guard entry.threads.contains(entry.pid) else {
                throw .malformed(file: "", "pid \(entry.pid) is not among its own threads")
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
