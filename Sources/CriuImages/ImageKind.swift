/// The image files criu-helper lets criu restore, by name. A name that looks
/// like an image (`*.img`) and is not listed here is refused: the private
/// copy that criu reads holds listed files only.
public enum ImageKind: Equatable, Sendable {
    case inventory
    case pstree
    case core(UInt32)
    case ids(UInt32)
    case mm(UInt32)
    case pagemap(UInt32)
    case pages(UInt32)
    case fs(UInt32)
    case fdinfo(UInt32)
    case files
    case pipesData
    case fifoData
    case socketQueues
    case ttyInfo
    case ttyData
    case fileLocks
    case memfd
    case shmemPagemap(UInt64)
    case remapPaths
    case ghostFile(UInt64)
    /// seccomp.img: criu writes it for every dump; only an empty one is accepted.
    case seccomp
    /// timens-N.img: clock offsets of a time namespace; criu ignores them
    /// with --unprivileged.
    case timeNamespaceClocks(UInt32)

    /// Memory contents: large, never parsed, not copied (see RestoreStaging).
    public var isPageData: Bool {
        if case .pages = self { return true }
        return false
    }

    public var magic: UInt32? {
        switch self {
        case .inventory: return 0x5831_3116
        case .pstree: return 0x5027_3030
        case .core: return 0x5505_3847
        case .ids: return 0x5443_2030
        case .mm: return 0x5749_2820
        case .pagemap, .shmemPagemap: return 0x5608_4025
        case .pages: return nil
        case .fs: return 0x5140_3912
        case .fdinfo: return 0x5621_3732
        case .files: return 0x5630_3138
        case .pipesData: return 0x5645_3709
        case .fifoData: return 0x5933_3054
        case .socketQueues: return 0x5626_4026
        case .ttyInfo: return 0x5945_3036
        case .ttyData: return 0x5941_3026
        case .fileLocks: return 0x5432_3616
        case .memfd: return 0x4845_3499
        case .remapPaths: return 0x5913_3954
        case .ghostFile: return 0x5258_3605
        case .seccomp: return 0x6441_3049
        case .timeNamespaceClocks: return 0x4311_4433
        }
    }

    /// What a name means: an allowed image, a refused image, or not an image at all.
    public enum Classification: Equatable, Sendable {
        case image(ImageKind)
        case refused(String)
        /// Not read by criu on restore (logs, statistics, the helper's own files).
        case other
    }

    public static func classify(_ name: String) -> Classification {
        guard name.hasSuffix(".img") else { return .other }
        let stem = String(name.dropLast(4))
        let fixed: [String: ImageKind] = [
            "inventory": .inventory, "pstree": .pstree, "files": .files, "pipes-data": .pipesData,
            "fifo-data": .fifoData, "sk-queues": .socketQueues, "tty-info": .ttyInfo, "tty-data": .ttyData,
            "filelocks": .fileLocks, "memfd": .memfd, "remap-fpath": .remapPaths, "seccomp": .seccomp,
        ]
        if let kind = fixed[stem] { return .image(kind) }
        let perTask: [(String, (UInt32) -> ImageKind)] = [
            ("core-", ImageKind.core), ("ids-", ImageKind.ids), ("mm-", ImageKind.mm), ("pagemap-", ImageKind.pagemap),
            ("pages-", ImageKind.pages), ("fs-", ImageKind.fs), ("fdinfo-", ImageKind.fdinfo),
            ("timens-", ImageKind.timeNamespaceClocks),
        ]
        for (prefix, make) in perTask where stem.hasPrefix(prefix) {
            if let n = decimal(stem.dropFirst(prefix.count)) { return .image(make(n)) }
        }
        if stem.hasPrefix("pagemap-shmem-"), let n = decimal(stem.dropFirst(14)) { return .image(.shmemPagemap(UInt64(n))) }
        if stem.hasPrefix("ghost-file-"), let n = hexadecimal(stem.dropFirst(11)) { return .image(.ghostFile(n)) }
        return .refused(refusalReason(stem))
    }

    private static func refusalReason(_ stem: String) -> String {
        let reasons: [(String, String)] = [
            ("creds-", "a legacy credentials image (credentials must be in core-*.img)"),
            ("mountpoints-", "mount namespace content"), ("netdev-", "network devices"), ("netns-", "a network namespace"),
            ("ifaddr-", "network addresses"), ("route", "network routes"), ("rule-", "network rules"),
            ("iptables-", "firewall rules"), ("ip6tables-", "firewall rules"), ("nftables-", "firewall rules"),
            ("utsns-", "a UTS namespace"), ("ipcns-", "an IPC namespace"), ("userns-", "a user namespace"),
            ("pidns-", "a PID namespace"), ("timens-", "a time namespace"), ("tmpfs-", "tmpfs contents"),
            ("cgroup", "cgroups"), ("bpfmap", "BPF maps"),
            ("apparmor", "AppArmor policy"), ("inetsk", "network sockets"), ("tcp-stream", "TCP connections"),
            ("packetsk", "packet sockets"), ("netlinksk", "netlink sockets"), ("tunfile", "TUN devices"),
            ("ns-files", "namespace files"), ("ext-files", "external files"), ("autofs", "autofs"),
            ("binfmt-misc", "binfmt_misc entries"), ("inotify", "inotify watches"), ("fanotify", "fanotify marks"),
        ]
        for (prefix, what) in reasons where stem.hasPrefix(prefix) {
            return "\(stem).img holds \(what), which criu-helper does not restore"
        }
        return "\(stem).img is not an image criu-helper restores"
    }

    /// Decimal without sign, spaces or leading zeros (as criu's "%u" prints).
    static func decimal(_ s: Substring) -> UInt32? {
        guard !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isNumber }), s == "0" || s.first != "0" else { return nil }
        return UInt32(s)
    }

    static func hexadecimal(_ s: Substring) -> UInt64? {
        guard !s.isEmpty, s.count <= 16, s.allSatisfy({ $0.isHexDigit && ($0.isNumber || $0.isLowercase) }) else { return nil }
        return UInt64(s, radix: 16)
    }
}
