/// A tmpfs that is mounted nowhere: reachable only through the descriptor
/// this returns (fsopen + fsmount). Restore copies images here, so that what
/// criu reads is exactly what the helper checked; the caller cannot reach it.
/// CAP_SYS_ADMIN must be effective while it is created (Privileges).
public enum DetachedTmpfs {
    /// `bytes` and `inodes` are what the files to be copied in need, counted
    /// the way tmpfs counts them (whole pages, one inode per file).
    public static func create(bytes: Int64, inodes: Int, owner: UInt32, group: UInt32) throws(SystemError) -> FileDescriptor {
        let context = sys_fsopen("tmpfs")
        guard context >= 0 else { throw SystemError("fsopen", "tmpfs") }
        let contextFD = FileDescriptor(adopting: context)
        let options = [("size", String(max(bytes, 1 << 20))), ("nr_inodes", String(max(inodes, 16))), ("mode", "0700"),
                       ("uid", String(owner)), ("gid", String(group))]
        for (key, value) in options {
            guard sys_fsconfig(contextFD.rawValue, key, value) == 0 else { throw SystemError("fsconfig", key) }
        }
        guard sys_fsconfig_create(contextFD.rawValue) == 0 else { throw SystemError("fsconfig", "create") }
        let mount = sys_fsmount(contextFD.rawValue)
        guard mount >= 0 else { throw SystemError("fsmount", "tmpfs") }
        return FileDescriptor(adopting: mount)
    }
}
