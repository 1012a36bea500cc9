/// Validates a set of CRIU images before criu-helper lets criu restore them.
/// It reads the files through `read`, which the helper points at its private
/// copy: what is checked here is what criu will read.
public struct ImageValidator: Sendable {
    public var caller: CallerCredentials
    public var maximumTasks: Int
    public var maximumThreads: Int
    /// /proc/sys/kernel/pid_max
    public var pidMax: UInt32
    /// The largest metadata image read (page data is never read).
    public static let maximumImageSize = 64 << 20

    public init(caller: CallerCredentials, maximumTasks: Int = 4096, maximumThreads: Int = 65536, pidMax: UInt32 = 4_194_304) {
        self.caller = caller
        self.maximumTasks = maximumTasks
        self.maximumThreads = maximumThreads
        self.pidMax = pidMax
    }

    /// What restore needs to know about validated images.
    public struct Summary: Sendable, Equatable {
        public var processes: [ProcessEntry]
        public var threadCount: Int
        /// criu must run with --shell-job: the session or process group of
        /// the root is outside the tree, or a terminal is open.
        public var needsShellJob: Bool
        /// Some pages are in the parent generation (incremental dump).
        public var usesParentImages: Bool
        public var root: ProcessEntry { processes[0] }
    }

    public typealias Reader = (String) throws(ImageError) -> [UInt8]

    /// The full check for restore. `names` lists the files present; every
    /// `*.img` among them must be an allowed kind.
    public func validateForRestore(names: [String], read: Reader) throws(ImageError) -> Summary {
        var kinds: [String: ImageKind] = [:]
        for name in names {
            switch ImageKind.classify(name) {
            case .image(let kind): kinds[name] = kind
            case .refused(let why): throw .forbidden(file: name, why)
            case .other: continue
            }
        }
        func load(_ name: String) throws(ImageError) -> [UInt8]? {
            guard kinds[name] != nil else { return nil }
            do { return try read(name) } catch { throw error.renamed(name) }
        }
        func within<T>(_ name: String, _ body: () throws(ImageError) -> T) throws(ImageError) -> T {
            do { return try body() } catch { throw error.renamed(name) }
        }

        guard let inventoryBytes = try load("inventory.img") else { throw .malformed(file: "inventory.img", "missing") }
        let rootIDs = try within("inventory.img") { () throws(ImageError) in try Self.checkInventory(inventoryBytes) }

        guard let pstreeBytes = try load("pstree.img") else { throw .malformed(file: "pstree.img", "missing") }
        let processes = try within("pstree.img") { () throws(ImageError) in
            try ProcessEntry.readTree(pstreeBytes, maximumTasks: maximumTasks, maximumThreads: maximumThreads, pidMax: pidMax) {
                (pid) throws(ImageError) in try load("core-\(pid).img").map(CoreImage.isDeadTask) ?? false
            }
        }
        let pids = Set(processes.map(\.pid))
        var threadCount = 0
        for process in processes {
            for tid in process.threads {
                threadCount += 1
                let name = "core-\(tid).img"
                guard let bytes = try load(name) else { throw .malformed(file: name, "missing") }
                let who = tid == process.pid ? "task \(tid)" : "task \(process.pid) (thread \(tid))"
                let core = try within(name) { () throws(ImageError) in
                    let core = try CoreImage(bytes, isLeader: tid == process.pid, who: who)
                    try core.credentials.check(against: caller, who: who)
                    try core.namespaces?.checkSame(as: rootIDs, who: who)
                    return core
                }
                _ = core
            }
            let idsName = "ids-\(process.pid).img"
            if let bytes = try load(idsName) {
                try within(idsName) { () throws(ImageError) in
                    let ids = try NamespaceIDs(try ImageFile.single(bytes, magic: ImageKind.ids(0).magic!))
                    try ids.checkSame(as: rootIDs, who: "task \(process.pid)")
                }
            }
        }
        // An image named after a task that is not in pstree.img is not read by
        // criu; refusing it keeps the set honest.
        for (name, kind) in kinds {
            switch kind {
            case .core(let n) where !processes.contains(where: { $0.threads.contains(n) || ($0.isZombie && $0.pid == n) }):
                throw .forbidden(file: name, "no such thread in pstree.img")
            case .mm(let n), .fs(let n), .ids(let n):
                if !pids.contains(n) { throw .forbidden(file: name, "no such process in pstree.img") }
            default: break
            }
        }

        let files = try within("files.img") { () throws(ImageError) in try FileTable(filesImage: try load("files.img"), caller: caller) }
        var usesParent = false
        for process in processes {
            let pid = process.pid
            if let bytes = try load("fs-\(pid).img") {
                try within("fs-\(pid).img") { () throws(ImageError) in try Self.checkFS(bytes, files: files) }
            }
            if let bytes = try load("mm-\(pid).img") {
                try within("mm-\(pid).img") { () throws(ImageError) in try Self.checkMM(bytes, files: files) }
            }
            if let bytes = try load("pagemap-\(pid).img") {
                let parent = try within("pagemap-\(pid).img") { () throws(ImageError) in try Self.checkPagemap(bytes) }
                usesParent = usesParent || parent
            }
        }
        for (name, kind) in kinds where !kind.isPageData {
            // fdinfo-N.img is named after a files_id (a shared descriptor table), not a pid.
            if case .fdinfo = kind, let bytes = try load(name) {
                try within(name) { () throws(ImageError) in try files.checkDescriptors(bytes) }
            }
            try within(name) { () throws(ImageError) in try checkOther(kind, load(name)) }
        }

        let root = processes[0]
        let shell = files.hasTerminal || !pids.contains(root.session) || !pids.contains(root.processGroup)
        return Summary(processes: processes, threadCount: threadCount, needsShellJob: shell, usesParentImages: usesParent)
    }

    /// After a dump: the credentials criu recorded for every thread must be
    /// the caller's. Catches a task that changed identity (a set-user-ID exec,
    /// a reused PID) between the helper's check and criu freezing the tree.
    public func checkDumpedCredentials(read: Reader) throws(ImageError) -> (processes: Int, threads: Int) {
        let pstree: [UInt8]
        do { pstree = try read("pstree.img") } catch { throw error.renamed("pstree.img") }
        let processes: [ProcessEntry]
        do {
            processes = try ProcessEntry.readTree(pstree, maximumTasks: maximumTasks, maximumThreads: maximumThreads, pidMax: pidMax) {
                (pid) in (try? read("core-\(pid).img")).map(CoreImage.isDeadTask) ?? false
            }
        } catch { throw error.renamed("pstree.img") }
        var threads = 0
        for process in processes {
            for tid in process.threads {
                threads += 1
                let name = "core-\(tid).img"
                let who = tid == process.pid ? "task \(tid)" : "task \(process.pid) (thread \(tid))"
                do {
                    let core = try CoreImage(try read(name), isLeader: tid == process.pid, who: who)
                    try core.credentials.check(against: caller, who: who)
                } catch {
                    throw error.renamed(name)
                }
            }
        }
        return (processes.count, threads)
    }

    /// The number of processes in a pstree.img (for `list`).
    public func countProcesses(_ pstree: [UInt8]) throws(ImageError) -> Int {
        // (Only counted: a process without threads is taken for a zombie.)
        try ProcessEntry.readTree(pstree, maximumTasks: maximumTasks, maximumThreads: maximumThreads, pidMax: pidMax) { _ in true }.count
    }

    // MARK: - Single images

    /// inventory.img: version 2 (CRTOOLS_IMAGES_V1_1), no plugins, root_ids present.
    static func checkInventory(_ bytes: [UInt8]) throws(ImageError) -> NamespaceIDs {
        let inventory = try ImageFile.single(bytes, magic: ImageKind.inventory.magic!, common: false)
        try inventory.requireOnly([1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13], in: "inventory")
        let version = try inventory.requiredUInt32(1, "img_version")
        guard version == 2 else { throw .forbidden(file: "", "image version \(version), not 2") }
        if let plugins = try inventory.message(12, "plugins_entry"), !plugins.fields.isEmpty {
            throw .forbidden(file: "", "images need criu plugins, which criu-helper does not load")
        }
        guard let ids = try inventory.message(3, "root_ids") else { throw .malformed(file: "", "no root_ids") }
        return try NamespaceIDs(ids)
    }

    /// fs-PID.img: the root directory must be "/" (criu would chroot otherwise).
    static func checkFS(_ bytes: [UInt8], files: FileTable) throws(ImageError) {
        let fs = try ImageFile.single(bytes, magic: ImageKind.fs(0).magic!)
        try fs.requireOnly([1, 2, 3], in: "fs")
        let root = try fs.requiredUInt32(2, "root_id")
        let cwd = try fs.requiredUInt32(1, "cwd_id")
        guard files.regularFiles[root] == "/" else { throw .forbidden(file: "", "root directory is not /") }
        guard files.regularFiles[cwd] != nil else { throw .forbidden(file: "", "working directory \(cwd) is not a listed file") }
    }

    /// mm-PID.img: the executable is a listed regular file.
    static func checkMM(_ bytes: [UInt8], files: FileTable) throws(ImageError) {
        let mm = try ImageFile.single(bytes, magic: ImageKind.mm(0).magic!)
        try mm.requireOnly(Set(1...17), in: "mm")
        let exe = try mm.requiredUInt32(12, "exe_file_id")
        guard files.regularFiles[exe] != nil else { throw .forbidden(file: "", "executable \(exe) is not a listed regular file") }
    }

    /// pagemap-PID.img: a head, then entries. Returns whether any page lives
    /// in the parent generation.
    static func checkPagemap(_ bytes: [UInt8]) throws(ImageError) -> Bool {
        let entries = try ImageFile.entries(bytes, magic: ImageKind.pagemap(0).magic!)
        guard let head = entries.first else { throw .malformed(file: "", "no pagemap head") }
        try head.requireOnly([1], in: "pagemap_head")
        var inParent = false
        for entry in entries.dropFirst() {
            try entry.requireOnly([1, 2, 3, 4], in: "pagemap_entry")
            _ = try entry.requiredUInt64(1, "vaddr")
            _ = try entry.requiredUInt32(2, "nr_pages")
            if try entry.bool(3, "in_parent") == true { inParent = true }
            if let flags = try entry.uint32(4, "flags"), flags & 0x4 != 0 { inParent = true }   // PE_PARENT
        }
        return inParent
    }

    /// The remaining kinds: framing, and owners where the entry records one.
    func checkOther(_ kind: ImageKind, _ data: [UInt8]?) throws(ImageError) {
        guard let bytes = data, let magic = kind.magic else { return }
        switch kind {
        case .pipesData, .fifoData:
            _ = try ImageFile.entries(bytes, magic: magic, payload: .sizeInField(2))
        case .socketQueues:
            _ = try ImageFile.entries(bytes, magic: magic, payload: .sizeInField(2))
        case .ttyInfo:
            for tty in try ImageFile.entries(bytes, magic: magic) {
                if let uid = try tty.uint32(14, "uid"), uid != caller.uid { throw .forbidden(file: "", "terminal owned by \(uid)") }
                if let gid = try tty.uint32(15, "gid"), !caller.groups.contains(gid) {
                    throw .forbidden(file: "", "terminal group \(gid)")
                }
            }
        case .memfd:
            for inode in try ImageFile.entries(bytes, magic: magic) {
                let uid = try inode.requiredUInt32(2, "uid")
                let gid = try inode.requiredUInt32(3, "gid")
                guard uid == caller.uid, caller.groups.contains(gid) else {
                    throw .forbidden(file: "", "memfd owned by \(uid):\(gid)")
                }
            }
        case .remapPaths:
            for remap in try ImageFile.entries(bytes, magic: magic) {
                if try remap.uint32(3, "remap_type") == 2 { throw .forbidden(file: "", "a /proc file remap") }
            }
        case .ghostFile:
            try checkGhost(bytes, magic: magic)
        case .seccomp:
            for entry in try ImageFile.entries(bytes, magic: magic) where entry.has(1) {
                throw .forbidden(file: "", "the images hold seccomp filters, which criu-helper does not restore")
            }
        case .timeNamespaceClocks:
            _ = try ImageFile.entries(bytes, magic: magic)
        case .ttyData, .fileLocks, .shmemPagemap:
            _ = try ImageFile.entries(bytes, magic: magic)
        default:
            return
        }
    }

    /// ghost-file-ID.img: a deleted file criu recreates. Its first entry says
    /// owner and mode; the rest is the file's data.
    func checkGhost(_ bytes: [UInt8], magic: UInt32) throws(ImageError) {
        let start = try ImageFile.checkMagic(bytes, magic: magic)
        guard bytes.count - start >= 4 else { throw .malformed(file: "", "no ghost entry") }
        let size = Int(ImageFile.u32(bytes[...], at: start))
        guard size <= bytes.count - start - 4 else { throw .malformed(file: "", "truncated ghost entry") }
        let ghost = try ProtobufMessage(decoding: bytes[(start + 4)..<(start + 4 + size)])
        let uid = try ghost.requiredUInt32(1, "uid")
        let gid = try ghost.requiredUInt32(2, "gid")
        let mode = try ghost.requiredUInt32(3, "mode")
        guard uid == caller.uid, caller.groups.contains(gid) else { throw .forbidden(file: "", "ghost file owned by \(uid):\(gid)") }
        let type = mode & 0o170000
        guard type == 0o100000 || type == 0o040000 || type == 0o120000 else {
            throw .forbidden(file: "", "ghost file of mode \(String(mode, radix: 8))")
        }
        guard mode & 0o6000 == 0 else { throw .forbidden(file: "", "ghost file is set-user-ID or set-group-ID") }
    }
}
