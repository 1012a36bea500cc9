/// The namespace fields of task_kobj_ids_entry. A task whose ids differ from
/// the inventory's root_ids makes criu create that namespace on restore,
/// with criu's capabilities: refused.
public struct NamespaceIDs: Sendable, Equatable {
    public static let names: [(field: UInt32, name: String)] = [
        (5, "pid"), (6, "net"), (7, "ipc"), (8, "uts"), (9, "mnt"), (10, "user"), (11, "cgroup"), (12, "time"),
    ]
    public var values: [UInt32: UInt32]

    public init(_ m: ProtobufMessage) throws(ImageError) {
        try m.requireOnly(Set(1...12), in: "task_kobj_ids")
        _ = try m.requiredUInt32(1, "vm_id")
        _ = try m.requiredUInt32(2, "files_id")
        _ = try m.requiredUInt32(3, "fs_id")
        _ = try m.requiredUInt32(4, "sighand_id")
        var values: [UInt32: UInt32] = [:]
        for (field, name) in Self.names {
            if let v = try m.uint32(field, "\(name)_ns_id") { values[field] = v }
        }
        self.values = values
    }

    /// Refuses any namespace that differs from `root` (present in one and not
    /// the other counts as different).
    public func checkSame(as root: NamespaceIDs, who: String) throws(ImageError) {
        for (field, name) in Self.names where values[field] != root.values[field] {
            throw .forbidden(file: "", "\(who) is in another \(name) namespace than the dump's root (a new namespace would be created)")
        }
    }
}
