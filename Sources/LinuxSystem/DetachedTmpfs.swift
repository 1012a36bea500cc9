/// A tmpfs that is mounted nowhere: reachable only through the descriptor
/// this returns (fsopen + fsmount). Restore copies images here, so that what
/// criu reads is exactly what the helper checked; the caller cannot reach it.
/// Needs CAP_SYS_ADMIN effective while it is created.
public enum DetachedTmpfs {
    public static func create(sizeBytes: Int64, owner: UInt32, group: UInt32) throws(SystemError) -> FileDescriptor {
        let context = sys_fsopen("tmpfs")
        guard context >= 0 else { throw SystemError("fsopen", "tmpfs") }
        let contextFD = FileDescriptor(adopting: context)
        let options = [("size", String(max(sizeBytes, 1 << 20))), ("mode", "0700"),
                       ("uid", String(owner)), ("gid", String(group)), ("nr_inodes", "65536")]
        for (key, value) in options {
            guard sys_fsconfig(contextFD.rawValue, key, value) == 0 else { throw SystemError("fsconfig", key) }
        }
        guard sys_fsconfig_create(contextFD.rawValue) == 0 else { throw SystemError("fsconfig", "create") }
        let mount = sys_fsmount(contextFD.rawValue)
        guard mount >= 0 else { throw SystemError("fsmount", "tmpfs") }
        return FileDescriptor(adopting: mount)
    }
}
