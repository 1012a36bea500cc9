/// stats-dump (images/stats.proto): what criu measured while dumping.
public struct DumpStatistics: Sendable, Equatable {
    /// Microseconds.
    public var freezingTime: UInt32
    public var frozenTime: UInt32
    public var memoryDumpTime: UInt32
    public var memoryWriteTime: UInt32
    public var pagesScanned: UInt64
    public var pagesSkippedParent: UInt64
    public var pagesWritten: UInt64

    public init(_ bytes: [UInt8]) throws(ImageError) {
        let entry = try ImageFile.single(bytes, magic: 0x5709_3306, head: ImageFile.serviceMagic)
        guard let dump = try entry.message(1, "dump") else { throw .malformed(file: "stats-dump", "no dump statistics") }
        freezingTime = try dump.requiredUInt32(1, "freezing_time")
        frozenTime = try dump.requiredUInt32(2, "frozen_time")
        memoryDumpTime = try dump.requiredUInt32(3, "memdump_time")
        memoryWriteTime = try dump.requiredUInt32(4, "memwrite_time")
        pagesScanned = try dump.requiredUInt64(5, "pages_scanned")
        pagesSkippedParent = try dump.requiredUInt64(6, "pages_skipped_parent")
        pagesWritten = try dump.requiredUInt64(7, "pages_written")
    }
}
