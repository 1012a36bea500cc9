/// A file system's magic number, as statfs(2) reports it in f_type
/// (linux/magic.h). The image validator decides on these, not on how a path
/// is spelled: `//proc/self`, `/./proc` or a path through a symbolic link all
/// reach PROC_SUPER_MAGIC.
public struct FileSystemType: RawRepresentable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let proc = FileSystemType(rawValue: 0x9fa0)
    public static let sysfs = FileSystemType(rawValue: 0x6265_6572)
    public static let devpts = FileSystemType(rawValue: 0x1cd1)
    public static let tmpfs = FileSystemType(rawValue: 0x0102_1994)
    public static let debugfs = FileSystemType(rawValue: 0x6462_6720)
    public static let tracefs = FileSystemType(rawValue: 0x7472_6163)
    public static let securityfs = FileSystemType(rawValue: 0x7363_6673)
    public static let cgroup = FileSystemType(rawValue: 0x27e0eb)
    public static let cgroup2 = FileSystemType(rawValue: 0x6367_7270)
    public static let bpf = FileSystemType(rawValue: 0xcafe_4a11)
    public static let nsfs = FileSystemType(rawValue: 0x6e73_6673)
    public static let pidfs = FileSystemType(rawValue: 0x5049_4446)
    public static let configfs = FileSystemType(rawValue: 0x6265_6570)
    public static let efivarfs = FileSystemType(rawValue: 0xde5e_81e4)
    public static let pstore = FileSystemType(rawValue: 0x6165_676c)
    public static let selinuxfs = FileSystemType(rawValue: 0xf97c_ff8c)
    public static let fusectl = FileSystemType(rawValue: 0x6573_5546)
    public static let binfmtMisc = FileSystemType(rawValue: 0x4249_4e4d)
    public static let autofs = FileSystemType(rawValue: 0x0187)
    public static let mqueue = FileSystemType(rawValue: 0x1980_0202)
    public static let hugetlbfs = FileSystemType(rawValue: 0x9584_58f6)

    /// Kernel interfaces rather than storage: files there act on the system
    /// or on processes, and what a descriptor may do can depend on who opened
    /// it. A restored task never gets one from criu.
    public static let kernelInterfaces: Set<FileSystemType> = [
        .proc, .sysfs, .devpts, .debugfs, .tracefs, .securityfs, .cgroup, .cgroup2, .bpf, .nsfs, .pidfs,
        .configfs, .efivarfs, .pstore, .selinuxfs, .fusectl, .binfmtMisc, .autofs, .mqueue,
    ]

    public var description: String {
        let names: [FileSystemType: String] = [
            .proc: "proc", .sysfs: "sysfs", .devpts: "devpts", .tmpfs: "tmpfs", .debugfs: "debugfs",
            .tracefs: "tracefs", .securityfs: "securityfs", .cgroup: "cgroup", .cgroup2: "cgroup2", .bpf: "bpf",
            .nsfs: "nsfs", .pidfs: "pidfs", .configfs: "configfs", .efivarfs: "efivarfs", .pstore: "pstore",
            .selinuxfs: "selinuxfs", .fusectl: "fusectl", .binfmtMisc: "binfmt_misc", .autofs: "autofs",
            .mqueue: "mqueue", .hugetlbfs: "hugetlbfs",
        ]
        return names[self] ?? "file system 0x\(String(rawValue, radix: 16))"
    }
}
