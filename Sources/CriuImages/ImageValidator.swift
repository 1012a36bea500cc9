import Credentials

/// Validates a set of CRIU images before criu-helper lets criu restore them
/// — and, right after a dump, before the dump may end the job: a generation
/// this installation would refuse to restore must never cost the job. It
/// reads the files through `read`, which for a restore the helper points at
/// its private copy: what is checked here is what criu will read.
public struct ImageValidator: Sendable {
    public var caller: CredentialRule
    public var maximumTasks: Int
    public var maximumThreads: Int
    /// /proc/sys/kernel/pid_max
    public var pidMax: UInt32
    /// The largest metadata image read (page data is never read).
    public static let maximumImageSize = 64 << 20
    /// Which network sockets may be restored; nil: none.
    public var network: InetSocketPolicy? = nil
    /// Tasks with more than one thread (criu-helper.conf `multi-threaded`).
    /// criu restores each thread's credentials in turn in one shared
    /// address space, so while it restores such a task the caller can write
    /// the memory of a thread that has dropped criu's capability and run
    /// code in a sibling that still holds it.
    public var allowsMultiThreadedTasks = false
    /// The group the system gives terminals (the owner group of /dev/ptmx).
    public var terminalGroup: UInt32? = nil

    /// The refusal of a multi-threaded task, the same at dump and restore.
    public static func multiThreadedRefusal(pid: Int64, threads: Int) -> String {
        "task \(pid) has \(threads) threads, and this site restores single-threaded tasks only (while criu restores the threads of one task, the caller could borrow its capability; criu-helper.conf: multi-threaded)"
    }

    public init(caller: CredentialRule, maximumTasks: Int = 4096, maximumThreads: Int = 65536, pidMax: UInt32 = 4_194_304) {
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
        /// the root is outside the tree.
        public var needsShellJob: Bool
        /// Regular files the tree held open for writing, and their lengths then.
        public var writtenFiles: [FileTable.WrittenFile] = []
        /// Every regular file criu opens by path for the tree.
        public var openedFiles: [String] = []
        /// Processes that had ended and that criu makes again for a moment,
        /// to open their /proc directories (their PIDs must be free).
        public var endedProcesses: [UInt32] = []
        public var root: ProcessEntry { processes[0] }
    }

    public typealias Reader = (String) throws(ImageError) -> [UInt8]

    /// The full check. `names` lists the files present; every `*.img` among
    /// them must be an allowed kind. `inspector` looks paths up on the live
    /// system as the caller (PathPolicy.checkLive); nil skips that step.
    public func validate(names: [String], read: Reader, inspector: PathPolicy.Inspector? = nil) throws(ImageError) -> Summary {
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
        let processesRead = try within("pstree.img") { () throws(ImageError) in
            try ProcessEntry.readTree(pstreeBytes, maximumTasks: maximumTasks, maximumThreads: maximumThreads, pidMax: pidMax) {
                (pid) throws(ImageError) in try load("core-\(pid).img").map(CoreImage.isDeadTask) ?? false
            }
        }
        if !allowsMultiThreadedTasks, let threaded = processesRead.first(where: { $0.threads.count > 1 }) {
            throw .forbidden(file: "pstree.img", Self.multiThreadedRefusal(pid: Int64(threaded.pid), threads: threaded.threads.count))
        }
        var processes = processesRead
        let pids = Set(processes.map(\.pid))
        var threadCount = 0
        for index in processes.indices {
            let process = processes[index]
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
                if tid == process.pid {
                    processes[index].wasStopped = core.wasStopped
                    processes[index].stopSignal = core.stopSignal
                }
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

        let files = try within("files.img") { () throws(ImageError) in
            try FileTable(filesImage: try load("files.img"), caller: caller, network: network, rootNetNamespace: rootIDs.values[6])
        }
        _ = try within("tty-info.img") { () throws(ImageError) in
            try TerminalTable(info: try load("tty-info.img"), data: try load("tty-data.img"), files: files, processes: processes,
                              caller: caller, terminalGroup: terminalGroup)
        }
        if let inspector {
            try within("files.img") { () throws(ImageError) in try TerminalTable.checkLive(files, inspector: inspector) }
            for (id, path) in files.regularFiles.sorted(by: { $0.key < $1.key }) {
                // A descriptor of a symbolic link itself (O_PATH|O_NOFOLLOW):
                // criu opens the link, not what it points to; the directory
                // it is in is what must not go through one.
                if files.linksThemselves.contains(id), case .throughSymbolicLink = inspector(path),
                   let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) {
                    let directory = slash == path.utf8.startIndex ? "/" : String(path[..<slash])
                    try within("files.img") { () throws(ImageError) in
                        try PathPolicy.checkLive(directory, what: "file \(id) directory", use: .directory, inspector: inspector)
                    }
                    continue
                }
                try within("files.img") { () throws(ImageError) in
                    try PathPolicy.checkLive(path, what: "file \(id)", use: .opened, inspector: inspector)
                }
            }
        }
        for process in processes {
            let pid = process.pid
            if let bytes = try load("fs-\(pid).img") {
                try within("fs-\(pid).img") { () throws(ImageError) in try Self.checkFS(bytes, files: files, inspector: inspector) }
            }
            if let bytes = try load("mm-\(pid).img") {
                try within("mm-\(pid).img") { () throws(ImageError) in try Self.checkMM(bytes, files: files, inspector: inspector) }
            }
            if let bytes = try load("pagemap-\(pid).img") {
                let parent = try within("pagemap-\(pid).img") { () throws(ImageError) in try Self.checkPagemap(bytes) }
                if parent {
                    throw .forbidden(file: "pagemap-\(pid).img", "pages are in a parent generation (an incremental dump), which criu-helper does not restore")
                }
            }
        }
        for (name, kind) in kinds where !kind.isPageData {
            // fdinfo-N.img is named after a files_id (a shared descriptor table), not a pid.
            if case .fdinfo = kind, let bytes = try load(name) {
                try within(name) { () throws(ImageError) in try files.checkDescriptors(bytes) }
            }
            try within(name) { () throws(ImageError) in try checkOther(kind, load(name)) }
        }

        // Files of processes in /proc: each names a task of the tree, or a
        // process that had ended and that criu makes again for a moment, in
        // the job's PID namespace (remap-fpath.img, remap_type PROCFS).
        let endedProcesses = try Self.checkProcFiles(files, remaps: try load("remap-fpath.img"), processes: processes, pidMax: pidMax)

        // filelocks.img: each lock criu takes again belongs to a task of the tree.
        if let bytes = try load("filelocks.img") {
            try within("filelocks.img") { () throws(ImageError) in
                for lock in try ImageFile.entries(bytes, magic: ImageKind.fileLocks.magic!) {
                    try lock.requireOnly(Set(1...6), in: "file_lock_entry")
                    let pid = try lock.requiredUInt32(3, "pid")
                    guard pids.contains(pid) else { throw .forbidden(file: "", "a file lock of process \(pid), which is not in pstree.img") }
                }
            }
        }

        // criu recreates each deleted file at "PATH.cr.ID.ghost" (O_EXCL) and
        // unlinks it once opened: a name anyone can take first in a shared
        // directory such as /tmp, and then the restore fails. Said up front,
        // at dump (before the job is ended) and at restore.
        if let inspector, let bytes = try load("remap-fpath.img") {
            try within("remap-fpath.img") { () throws(ImageError) in
                for remap in try ImageFile.entries(bytes, magic: ImageKind.remapPaths.magic!) {
                    let original = try remap.requiredUInt32(1, "orig_id")
                    var id = try remap.requiredUInt32(2, "remap_id")
                    // Images without remap_type mark a ghost with the top bit of the id.
                    let type = try remap.uint32(3, "remap_type") ?? (id & 0x8000_0000 != 0 ? 1 : 0)
                    id &= 0x7FFF_FFFF
                    guard type == 1, let path = files.regularFiles[original] else { continue }
                    let ghost = path + ".cr." + String(id, radix: 16) + ".ghost"
                    switch inspector(ghost) {
                    case .missing: continue
                    case .found(let st, _, _):
                        throw .forbidden(file: "", "the deleted file \(PathPolicy.quoted(path)) is recreated for the restore as \(PathPolicy.quoted(ghost)), and that name is taken (by uid \(st.owner)): it must be removed first, or jobs given a private /tmp")
                    default:
                        throw .forbidden(file: "", "the deleted file \(PathPolicy.quoted(path)) is recreated for the restore as \(PathPolicy.quoted(ghost)), and that name is taken")
                    }
                }
            }
        }

        // A pidfd refers to a process of the tree (or to one that had ended:
        // criu makes a short-lived stand-in): never to anything outside it.
        for (id, target) in files.pidfdTargets.sorted(by: { $0.key < $1.key }) {
            if let target, !pids.contains(target) {
                throw .forbidden(file: "files.img", "pidfd \(id) refers to process \(target), which is not in the tree")
            }
        }
        if let inspector {
            for path in files.deletedSocketPaths {
                if case .found(let st, _, _) = inspector(path), st.owner != caller.uid {
                    throw .forbidden(file: "files.img", "the deleted socket \(PathPolicy.quoted(path)) is bound again for the restore, and that name is taken (by uid \(st.owner)): it must be removed first, or jobs given a private /tmp")
                }
            }
        }

        let root = processes[0]
        let shell = !pids.contains(root.session) || !pids.contains(root.processGroup)
        return Summary(processes: processes, threadCount: threadCount, needsShellJob: shell, writtenFiles: files.writtenFiles,
                       openedFiles: Array(Set(files.regularFiles.values)).sorted(), endedProcesses: endedProcesses.sorted())
    }

    /// Files of processes in /proc (FileTable.procFiles): each names a task
    /// of the tree (a thread of it), or a process that had ended and that
    /// criu makes again for a moment in the job's PID namespace
    /// (remap-fpath.img, remap_type PROCFS), which is returned.
    static func checkProcFiles(_ files: FileTable, remaps: [UInt8]?, processes: [ProcessEntry], pidMax: UInt32) throws(ImageError) -> Set<UInt32> {
        var endedProcesses: Set<UInt32> = []
        if let bytes = remaps {
            do throws(ImageError) {
                for remap in try ImageFile.entries(bytes, magic: ImageKind.remapPaths.magic!) {
                    guard try remap.uint32(3, "remap_type") == 2 else { continue }
                    let original = try remap.requiredUInt32(1, "orig_id")
                    let pid = try remap.requiredUInt32(2, "remap_id")
                    guard let file = files.procFiles[original], file.entry.pid == pid else {
                        throw .forbidden(file: "", "a /proc remap of file \(original) to process \(pid), which is not that file's process")
                    }
                    guard pid > 1, pid <= pidMax else { throw .forbidden(file: "", "a /proc remap to process \(pid)") }
                    endedProcesses.insert(pid)
                }
            } catch { throw error.renamed("remap-fpath.img") }
        }
        for (id, file) in files.procFiles.sorted(by: { $0.key < $1.key }) {
            let known: Bool
            if let process = processes.first(where: { $0.pid == file.entry.pid && !$0.isZombie }) {
                known = file.entry.tid.map { process.threads.contains($0) } ?? true
            } else {
                known = endedProcesses.contains(file.entry.pid) && (file.entry.tid == nil || file.entry.tid == file.entry.pid)
            }
            guard known else {
                throw .forbidden(file: "files.img", "file \(id) is \(PathPolicy.quoted(file.path)), in /proc of a process that is not the job's")
            }
        }
        return endedProcesses
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

    /// fs-PID.img: the root directory must be "/" (criu would chroot
    /// otherwise); the working directory a listed directory.
    static func checkFS(_ bytes: [UInt8], files: FileTable, inspector: PathPolicy.Inspector?) throws(ImageError) {
        let fs = try ImageFile.single(bytes, magic: ImageKind.fs(0).magic!)
        try fs.requireOnly([1, 2, 3], in: "fs")
        let root = try fs.requiredUInt32(2, "root_id")
        let cwd = try fs.requiredUInt32(1, "cwd_id")
        guard files.regularFiles[root] == "/" else { throw .forbidden(file: "", "root directory is not /") }
        // A working directory in /proc (a process's directory there) was checked with the job's /proc files.
        if let proc = files.procFiles[cwd] {
            guard proc.entry.leaf == nil else { throw .forbidden(file: "", "working directory \(PathPolicy.quoted(proc.path)) is not a directory") }
            return
        }
        guard let cwdPath = files.regularFiles[cwd] else { throw .forbidden(file: "", "working directory \(cwd) is not a listed file") }
        if let inspector { try PathPolicy.checkLive(cwdPath, what: "working directory", use: .directory, inspector: inspector) }
    }

    /// mm-PID.img: the executable (what /proc/PID/exe will show, set with
    /// PR_SET_MM_MAP while criu holds its capability) must be a listed regular
    /// file that the task really has mapped executable, and not a program
    /// that changes identity: a set-user-ID or set-group-ID file, or one with
    /// file capabilities. Otherwise a forged image could make a job show
    /// itself as /usr/bin/passwd.
    static func checkMM(_ bytes: [UInt8], files: FileTable, inspector: PathPolicy.Inspector?) throws(ImageError) {
        let mm = try ImageFile.single(bytes, magic: ImageKind.mm(0).magic!)
        try mm.requireOnly(Set(1...17), in: "mm")
        let exe = try mm.requiredUInt32(12, "exe_file_id")
        guard let exePath = files.regularFiles[exe] else { throw .forbidden(file: "", "executable \(exe) is not a listed regular file") }
        // criu opens the executable again by path and compares it with the
        // recorded mode: a recorded set-ID mode would let it accept one.
        if let mode = files.regularFileModes[exe], mode & 0o6000 != 0 {
            throw .forbidden(file: "", "executable \(PathPolicy.quoted(exePath)) is recorded as set-user-ID or set-group-ID")
        }
        // vma_entry: shmid 4 (the file id of a file mapping), prot 5, status 7
        // (criu/include/image.h: VMA_FILE_PRIVATE 1<<6, VMA_FILE_SHARED 1<<7).
        var mapped = false
        for vma in try mm.messages(14, "vmas") {
            try vma.requireOnly(Set(1...10), in: "vma")
            let status = try vma.requiredUInt32(7, "vma.status")
            let prot = try vma.requiredUInt32(5, "vma.prot")
            let file = try vma.requiredUInt64(4, "vma.shmid")
            // The mapping may name another file entry for the same path (a
            // descriptor of its own opened on the executable, say).
            let sameFile = file == UInt64(exe) || (file <= UInt64(UInt32.max) && files.regularFiles[UInt32(file)] == exePath)
            if status & (1 << 6 | 1 << 7) != 0 && prot & 0x4 != 0 && sameFile { mapped = true }
        }
        guard mapped else { throw .forbidden(file: "", "executable \(exePath) is not mapped executable by the task") }
        if let inspector { try PathPolicy.checkLive(exePath, what: "executable", use: .executable, inspector: inspector) }
    }

    /// pagemap-PID.img: a head, then entries. Returns whether any page lives
    /// in the parent generation.
    public static func checkPagemap(_ bytes: [UInt8]) throws(ImageError) -> Bool {
        let entries = try ImageFile.entries(bytes, magic: ImageKind.pagemap(0).magic!)
        guard let head = entries.first else { throw .malformed(file: "", "no pagemap head") }
        try head.requireOnly([1], in: "pagemap_head")
        var inParent = false
        for entry in entries.dropFirst() {
            // criu 4.2 adds nr_pages as field 5 (uint64) and keeps field 2,
            // now compat_nr_pages, for older readers.
            try entry.requireOnly([1, 2, 3, 4, 5], in: "pagemap_entry")
            _ = try entry.requiredUInt64(1, "vaddr")
            _ = try entry.requiredUInt32(2, "compat_nr_pages")
            _ = try entry.uint64(5, "nr_pages")
            if try entry.bool(3, "in_parent") == true { inParent = true }
            // criu/include/pagemap.h: PE_PARENT 1<<0 (PE_PRESENT, 1<<2, is the usual one).
            if let flags = try entry.uint32(4, "flags"), flags & 0x1 != 0 { inParent = true }
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
        case .ttyInfo, .ttyData:
            return   // TerminalTable
        case .memfd:
            for inode in try ImageFile.entries(bytes, magic: magic) {
                let uid = try inode.requiredUInt32(2, "uid")
                let gid = try inode.requiredUInt32(3, "gid")
                guard uid == caller.uid, caller.groups.contains(gid) else {
                    throw .forbidden(file: "", "memfd owned by \(uid):\(gid)")
                }
                if let mode = try inode.uint32(9, "mode"), mode & 0o7000 != 0 {
                    throw .forbidden(file: "", "memfd of mode \(String(mode, radix: 8)) (set-user-ID, set-group-ID or sticky)")
                }
            }
        case .remapPaths:
            return   // with the files, in validate
        case .ghostFile:
            try checkGhost(bytes, magic: magic)
        case .seccomp:
            for entry in try ImageFile.entries(bytes, magic: magic) where entry.has(1) {
                throw .forbidden(file: "", "the images hold seccomp filters, which criu-helper does not restore")
            }
        case .timeNamespaceClocks:
            _ = try ImageFile.entries(bytes, magic: magic)
        case .shmemPagemap:
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
        // Regular files, directories, symbolic links and FIFOs: what the
        // caller can make (mknod of a FIFO needs no privilege; of a device, it does).
        guard type == 0o100000 || type == 0o040000 || type == 0o120000 || type == 0o010000 else {
            throw .forbidden(file: "", "ghost file of mode \(String(mode, radix: 8))")
        }
        guard mode & 0o6000 == 0 else { throw .forbidden(file: "", "ghost file is set-user-ID or set-group-ID") }
    }
}
