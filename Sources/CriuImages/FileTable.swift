import LinuxSystem
import Credentials

/// files.img and fdinfo-*.img: the open files criu recreates. Only plain
/// kinds are allowed; paths go through PathPolicy; owners are the caller.
public struct FileTable: Sendable {
    /// fd_types (images/fdinfo.proto) criu-helper restores.
    public enum Kind: UInt32, Sendable {
        case regular = 1, pipe = 2, fifo = 3, inetSocket = 4, unixSocket = 5, eventfd = 6, eventpoll = 7
        case signalfd = 9, terminal = 11, timerfd = 17, memfd = 18, pidfd = 20
    }
    static let refusedKinds: [UInt32: String] = [
        8: "an inotify descriptor", 10: "a packet socket", 12: "a fanotify descriptor",
        13: "a netlink socket", 14: "a namespace file", 15: "a TUN device", 16: "an external file",
        19: "a BPF map",
    ]

    /// Regular files by id: their paths.
    public private(set) var regularFiles: [UInt32: String] = [:]
    /// Regular files by id: the mode criu recorded (and compares the file
    /// it opens at restore with), where it recorded one.
    public private(set) var regularFileModes: [UInt32: UInt32] = [:]
    /// Regular files opened O_PATH|O_NOFOLLOW: a symbolic link as the last
    /// component is what the descriptor is, never followed.
    public private(set) var linksThemselves: Set<UInt32> = []

    /// A regular file the tree held open for writing, and how long it was
    /// when the tree was frozen: criu's recorded size where it kept one, the
    /// descriptor's offset otherwise (an O_APPEND writer's offset is the end
    /// of the file after its last write).
    public struct WrittenFile: Sendable, Equatable {
        public var path: String
        public var size: UInt64
    }
    public private(set) var writtenFiles: [WrittenFile] = []
    /// Absolute paths of unix sockets whose file was deleted: criu binds
    /// each again at its path for a moment, and the name must be free then.
    public private(set) var deletedSocketPaths: [String] = []
    /// pidfds by file id: the process each one refers to, as the tree's
    /// PID namespace numbers it (criu opens it again there), nil for one
    /// whose process had ended.
    public private(set) var pidfdTargets: [UInt32: UInt32?] = [:]

    /// A terminal descriptor (tty_file_entry): the tty-info.img entry it
    /// belongs to and the path criu opens for it (its own reg_file_entry,
    /// which is not one of `regularFiles`: the terminal rules of
    /// TerminalTable decide it, not the rules for files).
    public struct TerminalFile: Sendable, Equatable {
        public var infoID: UInt32
        public var path: String
    }
    public private(set) var terminalFiles: [UInt32: TerminalFile] = [:]

    /// Files of the job's own processes in /proc (ProcessFilePath),
    /// opened read-only: the validator checks that each names a task of
    /// the tree (or a process that had ended, which criu makes again for
    /// a moment). Not among `regularFiles`: nothing about them is looked up
    /// on the live system, where the same numbers are other processes.
    public struct ProcFile: Sendable, Equatable {
        public var path: String
        public var entry: ProcessFilePath
    }
    public private(set) var procFiles: [UInt32: ProcFile] = [:]

    /// `network`: the rule for inet sockets, nil to refuse them all.
    public init(filesImage: [UInt8]?, caller: CredentialRule, network: InetSocketPolicy? = nil,
                rootNetNamespace: UInt32? = nil) throws(ImageError) {
        guard let bytes = filesImage else { return }
        let entries = try ImageFile.entries(bytes, magic: ImageKind.files.magic!)
        // Terminals first: which file entries hold their paths.
        var terminalOfPath: [UInt32: (id: UInt32, infoID: UInt32)] = [:]
        for entry in entries {
            guard try entry.uint32(1, "type") == Kind.terminal.rawValue else { continue }
            let id = try entry.requiredUInt32(2, "id")
            guard let tty = try entry.message(19, "tty") else { continue }   // checked below, with the others
            // tty_file_entry (images/tty.proto): id 1, tty_info_id 2, flags 3, fown 4, regf_id 6.
            try tty.requireOnly([1, 2, 3, 4, 6], in: "tty_file_entry")
            let pathID = try tty.uint32(6, "regf_id") ?? id
            guard terminalOfPath[pathID] == nil else { throw .forbidden(file: "", "terminal \(id) shares its path entry \(pathID)") }
            terminalOfPath[pathID] = (id, try tty.requiredUInt32(2, "tty_info_id"))
        }
        var terminalPaths: [UInt32: String] = [:]
        for entry in entries {
            let rawKind = try entry.requiredUInt32(1, "type")
            let id = try entry.requiredUInt32(2, "id")
            guard let kind = Kind(rawValue: rawKind) else {
                throw .forbidden(file: "", "file \(id) is \(Self.refusedKinds[rawKind] ?? "of kind \(rawKind)"), which criu-helper does not restore")
            }
            // Exactly one sub-entry, the one matching the kind (file_entry fields 3-22).
            let subFields = Set(entry.fields.map(\.number)).subtracting([1, 2])
            let expected: UInt32 = [.regular: 3, .pipe: 18, .fifo: 17, .inetSocket: 4, .unixSocket: 16, .eventfd: 8, .eventpoll: 9,
                                    .signalfd: 10, .terminal: 19, .timerfd: 12, .memfd: 20, .pidfd: 22][kind]!
            guard subFields == [expected] else {
                throw .forbidden(file: "", "file \(id) has \(subFields.sorted()) where only field \(expected) belongs")
            }
            let sub = try entry.requiredMessage(expected, "file \(id)")
            switch kind {
            case .regular where terminalOfPath[id] != nil:
                let name = try sub.string(6, "name") ?? ""
                try PathPolicy.checkTerminal(name, what: "terminal file \(id)")
                try Self.checkOwner(sub.message(5, "fown"), caller: caller, who: "file \(id)")
                terminalPaths[id] = name
            case .regular where (try sub.string(6, "name") ?? "").hasPrefix("/proc/"):
                let name = try sub.string(6, "name") ?? ""
                try PathPolicy.canonical(name, what: "file \(id)")
                guard let proc = ProcessFilePath(name) else {
                    throw .forbidden(file: "", "file \(id) path is in /proc, and not a file of a process a job may keep open: \(PathPolicy.quoted(name))")
                }
                // reg_file_entry flags 2: O_RDONLY, nothing that creates or truncates.
                let flags = try sub.requiredUInt32(2, "flags")
                guard flags & 0o3 == 0, flags & (0o100 | 0o1000 | 0o2000) == 0 else {
                    throw .forbidden(file: "", "file \(id) in /proc is opened for writing (flags \(String(flags, radix: 8))): \(PathPolicy.quoted(name))")
                }
                try Self.checkOwner(sub.message(5, "fown"), caller: caller, who: "file \(id)")
                procFiles[id] = ProcFile(path: name, entry: proc)
            case .regular:
                let name = try sub.string(6, "name") ?? ""
                try PathPolicy.check(name, what: "file \(id)")
                try Self.checkOwner(sub.message(5, "fown"), caller: caller, who: "file \(id)")
                regularFiles[id] = name
                if let mode = try sub.uint32(10, "mode") { regularFileModes[id] = mode }
                // reg_file_entry: flags 2, pos 3, size 8 (images/regfile.proto).
                let flags = try sub.requiredUInt32(2, "flags")
                if flags & (0o10000000 | 0o400000) == 0o10000000 | 0o400000 { linksThemselves.insert(id) }
                if flags & 0o3 == 0o1 || flags & 0o3 == 0o2 {
                    var end = try sub.requiredUInt64(3, "pos")
                    if let recorded = try sub.uint64(8, "size") { end = recorded }
                    if let known = writtenFiles.firstIndex(where: { $0.path == name }) {
                        writtenFiles[known].size = max(writtenFiles[known].size, end)
                    } else {
                        writtenFiles.append(WrittenFile(path: name, size: end))
                    }
                }
            case .inetSocket:
                guard let network else {
                    throw .forbidden(file: "", "file \(id) is a network socket, which this criu cannot restore here (criu 4.2 or later can)")
                }
                try Self.checkOwner(sub.message(13, "fown"), caller: caller, who: "socket \(id)")
                try network.check(sub, id: id, rootNetNamespace: rootNetNamespace)
            case .unixSocket:
                if let deleted = try Self.checkUnixSocket(sub, caller: caller, id: id) { deletedSocketPaths.append(deleted) }
            case .pipe, .eventfd, .eventpoll, .signalfd, .timerfd, .memfd:
                let fownField: UInt32 = [.pipe: 4, .eventfd: 3, .eventpoll: 3, .signalfd: 3, .timerfd: 3, .memfd: 4][kind]!
                try Self.checkOwner(sub.message(fownField, "fown"), caller: caller, who: "file \(id)")
            case .fifo:
                break
            case .terminal:
                try Self.checkOwner(sub.message(4, "fown"), caller: caller, who: "terminal \(id)")
            case .pidfd:
                // pidfd_entry (images/pidfd.proto): nspid -1 for an ended process.
                try sub.requireOnly([1, 2, 3, 4, 5], in: "pidfd_entry")
                try Self.checkOwner(sub.message(5, "fown"), caller: caller, who: "pidfd \(id)")
                let flags = try sub.requiredUInt32(3, "flags")
                // O_ACCMODE, O_NONBLOCK and O_CLOEXEC only (not PIDFD_THREAD, O_EXCL: criu refuses it).
                guard flags & ~UInt32(0o3 | 0o4000 | 0o2000000) == 0 else {
                    throw .forbidden(file: "", "pidfd \(id) has flags \(String(flags, radix: 8))")
                }
                let nspid = try sub.requiredInt32(4, "nspid")
                guard nspid == -1 || nspid > 0 else { throw .malformed(file: "", "pidfd \(id) names pid \(nspid)") }
                pidfdTargets[id] = nspid == -1 ? UInt32?.none : UInt32(nspid)
            }
        }
        for (pathID, terminal) in terminalOfPath {
            guard let path = terminalPaths[pathID] else {
                throw .forbidden(file: "", "terminal \(terminal.id) has no path entry of its own (\(pathID))")
            }
            terminalFiles[terminal.id] = TerminalFile(infoID: terminal.infoID, path: path)
        }
        terminalPathIDs = Set(terminalOfPath.keys)
    }

    /// The file entries that hold a terminal's path: no descriptor may open
    /// one as a plain file.
    private var terminalPathIDs: Set<UInt32> = []

    /// fdinfo-PID.img: which descriptor numbers refer to which files.
    public func checkDescriptors(_ bytes: [UInt8]) throws(ImageError) {
        for entry in try ImageFile.entries(bytes, magic: ImageKind.fdinfo(0).magic!) {
            try entry.requireOnly([1, 2, 3, 4], in: "fdinfo")
            let kind = try entry.requiredUInt32(3, "type")
            guard Kind(rawValue: kind) != nil else {
                throw .forbidden(file: "", "descriptor is \(Self.refusedKinds[kind] ?? "of kind \(kind)")")
            }
            let id = try entry.requiredUInt32(1, "id")
            if kind == Kind.regular.rawValue && terminalPathIDs.contains(id) {
                throw .forbidden(file: "", "a descriptor opens terminal path \(id) as a plain file")
            }
        }
    }

    /// fown_entry: criu switches to the recorded (e)uid to set a file's owner
    /// when a signal or owner pid is recorded. It must be the caller.
    static func checkOwner(_ fown: ProtobufMessage?, caller: CredentialRule, who: String) throws(ImageError) {
        guard let fown else { return }
        let pid = try fown.uint32(5, "fown.pid") ?? 0
        let signal = try fown.uint32(3, "fown.signum") ?? 0
        guard pid != 0 || signal != 0 else { return }
        for (field, name) in [(UInt32(1), "uid"), (2, "euid")] {
            let value = try fown.requiredUInt32(field, "fown.\(name)")
            guard value == caller.uid else { throw .forbidden(file: "", "\(who) has owner \(name) \(value)") }
        }
    }

    /// Returns the socket's path when its file was deleted (criu binds it
    /// there again for a moment).
    static func checkUnixSocket(_ sk: ProtobufMessage, caller: CredentialRule, id: UInt32) throws(ImageError) -> String? {
        try checkOwner(sk.message(9, "fown"), caller: caller, who: "socket \(id)")
        let deleted = try sk.bool(15, "deleted") ?? false
        // A deleted socket's file has no owner left to record: criu writes
        // whatever it found, and its chown as the caller (no CAP_CHOWN) can
        // only fail. A live one's must be the caller's.
        if !deleted, let perms = try sk.message(13, "file_perms") {
            let uid = try perms.requiredUInt32(2, "uid")
            let gid = try perms.requiredUInt32(3, "gid")
            guard uid == caller.uid, caller.groups.contains(gid) else {
                throw .forbidden(file: "", "socket \(id) file belongs to \(uid):\(gid)")
            }
        }
        var name = try sk.bytes(11, "name") ?? []
        guard let first = name.first, first != 0 else { return nil }   // unnamed or abstract
        // criu stores a path name as the kernel reports sun_path: with its
        // terminating NUL. One, at the end, is the terminator; any other is refused.
        if name.last == 0 { name = name.dropLast() }
        guard let path = String(validating: name, as: UTF8.self) else { throw .malformed(file: "", "socket \(id) name") }
        if path.hasPrefix("/") {
            try PathPolicy.check(path, what: "socket \(id)")
            return deleted ? path : nil
        } else {
            let dir = try sk.string(14, "name_dir") ?? ""
            try PathPolicy.check(dir, what: "socket \(id) directory")
            guard !path.split(separator: "/").contains("..") else { throw .forbidden(file: "", "socket \(id) name has '..'") }
            return deleted && dir.hasPrefix("/") ? dir + "/" + path : nil
        }
    }
}
