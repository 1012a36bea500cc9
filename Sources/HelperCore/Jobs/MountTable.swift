/// A mount namespace's mount tree, from /proc/PID/mountinfo.
struct MountTable {
    struct Mount: Equatable {
        var id: Int
        var parent: Int
        /// major:minor of the mounted file system.
        var device: String
        /// The directory of that file system mounted here (bind mounts).
        var root: String
        var mountPoint: String
        var type: String

        /// What a mount is, whichever namespace it is in.
        var key: String { "\(mountPoint) \(device) \(root) \(type)" }
    }

    var mounts: [Mount]

    /// proc(5): "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw".
    static func parse(_ text: String) throws(HelperFailure) -> MountTable {
        var mounts: [Mount] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count >= 10, let id = Int(fields[0]), let parent = Int(fields[1]),
                  let dash = fields.firstIndex(of: "-"), dash >= 6, dash + 1 < fields.count else {
                throw .internalError("unexpected mountinfo line: \(RequestParser.shown(String(line)))")
            }
            mounts.append(Mount(id: id, parent: parent, device: String(fields[2]), root: String(fields[3]),
                                mountPoint: String(fields[4]), type: String(fields[dash + 1])))
        }
        return MountTable(mounts: mounts)
    }

    /// Why this table is not a copy of `helper`'s, or nil: every mount here
    /// must be one of the helper's (same file system, same root, same mount
    /// point, under the same parent), except a procfs on /proc (the job's
    /// own). Then every path resolves here to the same file as in the
    /// helper's namespace: criu's ELF interpreter, its libraries, anything it
    /// opens or runs. A namespace made from a container image or with bind
    /// mounts of the caller's choosing fails this.
    func difference(mirroring helper: MountTable) -> String? {
        // Each mount with its parent's key ("" for the namespace's root).
        func keyed(_ table: MountTable) -> [(key: String, parent: String)] {
            let byID = Dictionary(table.mounts.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            return table.mounts.map { ($0.key, byID[$0.parent]?.key ?? "") }
        }
        let theirs = Set(keyed(helper).map { "\($0.key)\u{0}\($0.parent)" })
        var ownProc = 0
        for (mount, keys) in zip(mounts, keyed(self)) {
            if theirs.contains("\(keys.key)\u{0}\(keys.parent)") { continue }
            if mount.mountPoint == "/proc" && mount.type == "proc" && ownProc == 0 {
                ownProc += 1
                continue
            }
            return "\(mount.mountPoint) (\(mount.type) \(mount.device)) is not mounted there in criu-helper's own namespace"
        }
        return nil
    }
}
