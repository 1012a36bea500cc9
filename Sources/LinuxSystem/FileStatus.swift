import Glibc

/// The parts of `struct stat` the helper decides on.
public struct FileStatus: Equatable, Sendable {
    public var device: UInt64
    public var inode: UInt64
    public var mode: UInt32
    public var linkCount: UInt64
    public var owner: UInt32
    public var group: UInt32
    public var size: Int64
    /// Nanoseconds since the epoch: two writes within one second still
    /// tell which came first.
    public var modifiedAtNanoseconds: Int64 = 0
    /// Seconds since the epoch (st_mtim.tv_sec).
    public var modificationTime: Int64 {
        let (seconds, rest) = modifiedAtNanoseconds.quotientAndRemainder(dividingBy: 1_000_000_000)
        return rest < 0 ? seconds - 1 : seconds
    }
    /// The device a device node stands for (st_rdev).
    public var rawDevice: UInt64 = 0

    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        mode = UInt32(st.st_mode)
        linkCount = UInt64(st.st_nlink)
        owner = UInt32(st.st_uid)
        group = UInt32(st.st_gid)
        size = Int64(st.st_size)
        modifiedAtNanoseconds = Int64(st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_mtim.tv_nsec)
        rawDevice = UInt64(st.st_rdev)
    }

    public init(device: UInt64 = 1, inode: UInt64 = 1, mode: UInt32, linkCount: UInt64 = 1,
                owner: UInt32, group: UInt32, size: Int64 = 0) {
        self.device = device
        self.inode = inode
        self.mode = mode
        self.linkCount = linkCount
        self.owner = owner
        self.group = group
        self.size = size
    }

    public var kind: UInt32 { mode & UInt32(S_IFMT) }
    public var isDirectory: Bool { kind == UInt32(S_IFDIR) }
    public var isRegularFile: Bool { kind == UInt32(S_IFREG) }
    public var isSymbolicLink: Bool { kind == UInt32(S_IFLNK) }
    public var isDevice: Bool { kind == UInt32(S_IFCHR) || kind == UInt32(S_IFBLK) }
    public var isCharacterDevice: Bool { kind == UInt32(S_IFCHR) }
    /// /dev/null, /dev/zero, /dev/full, /dev/random or /dev/urandom (by the
    /// device it stands for, not by its name): the only devices a restored
    /// task may be given.
    public var isHarmlessDevice: Bool {
        guard isCharacterDevice else { return false }
        let (major, minor) = Self.deviceNumbers(rawDevice)
        return major == 1 && [3, 5, 7, 8, 9].contains(minor)
    }
    /// Major and minor of a dev_t as glibc encodes it (gnu_dev_major/minor).
    public static func deviceNumbers(_ device: UInt64) -> (major: UInt64, minor: UInt64) {
        ((device >> 8) & 0xfff | (device >> 32) & ~0xfff, device & 0xff | (device >> 12) & ~0xff)
    }
    /// Set-user-ID or set-group-ID.
    public var changesIdentity: Bool { mode & 0o6000 != 0 }
    /// The permission bits, as `ls` shows them in octal.
    public var permissions: UInt32 { mode & 0o7777 }
    public var isGroupOrWorldWritable: Bool { mode & 0o022 != 0 }
    /// The sticky bit: in a directory, only an entry's owner (or the
    /// directory's) may rename or remove it.
    public var isSticky: Bool { mode & 0o1000 != 0 }
    /// Names the kind of file for error messages ("a symbolic link", "a FIFO").
    public var kindDescription: String {
        switch kind {
        case UInt32(S_IFREG): return "a regular file"
        case UInt32(S_IFDIR): return "a directory"
        case UInt32(S_IFLNK): return "a symbolic link"
        case UInt32(S_IFIFO): return "a FIFO"
        case UInt32(S_IFSOCK): return "a socket"
        case UInt32(S_IFCHR): return "a character device"
        case UInt32(S_IFBLK): return "a block device"
        default: return "an unknown kind of file"
        }
    }
}
