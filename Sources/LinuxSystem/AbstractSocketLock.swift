/// A lock named in the abstract unix-socket namespace: held while this value
/// lives, released by the kernel if the process dies. Anyone may bind any
/// name, so a taken name reports its holder's uid and the caller decides
/// whether that holder counts.
public struct AbstractSocketLock: ~Copyable {
    let fd: FileDescriptor

    public enum Result: ~Copyable {
        case acquired(AbstractSocketLock)
        case held(pid: Int32, uid: UInt32)
    }

    public static func acquire(_ name: String) throws(SystemError) -> Result {
        let r = sys_abstract_lock(name)
        if r.fd >= 0 { return .acquired(AbstractSocketLock(fd: FileDescriptor(adopting: r.fd))) }
        if Errno.current == Errno(98) /* EADDRINUSE */ { return .held(pid: r.holderPID, uid: r.holderUID) }
        throw SystemError("bind", "@" + name)
    }
}
