import LinuxSystem

/// The caller's images directory, opened once, race-free: openat2 with
/// RESOLVE_NO_SYMLINKS (no component may be a link), then checked through
/// the descriptor. criu gets it as /proc/self/fd/N of a descriptor of a
/// generation inside it, never as a path the caller could swap.
public final class ImagesDirectory {
    public let path: String
    public let fd: FileDescriptor
    let caller: Caller

    /// Names the helper itself keeps at the top of the directory.
    public static let jobRecordName = "job"
    public static let lockName = "lock"

    /// The lock file, while held.
    var lockFile: FileDescriptor? = nil

    init(path: String, fd: consuming FileDescriptor, caller: Caller) {
        self.path = path
        self.fd = fd
        self.caller = caller
    }

    /// Opens `path`, creating the last component (mode 0700) when `create`.
    public static func open(_ path: String, caller: Caller, create: Bool) throws(HelperFailure) -> ImagesDirectory {
        let shown = RequestParser.shown(path)
        let resolve: FileDescriptor.Resolve = [.noSymlinks, .noMagicLinks]
        var opened: FileDescriptor
        do {
            opened = try FileDescriptor.open(path, [.directory, .noFollow], resolve: resolve)
        } catch where error.errno == .noSuchFileOrDirectory && create {
            opened = try createLast(path, caller: caller)
        } catch where error.errno == .notDirectory && isSymbolicLink(path) {
            throw .refused("images directory \(shown) is, or goes through, a symbolic link")
        } catch {
            throw failure(for: error, shown: shown)
        }
        let st: FileStatus
        do { st = try opened.status() } catch { throw .internalError("fstat \(shown): \(error.errno)") }
        guard st.isDirectory else { throw .refused("images directory \(shown) is not a directory") }
        guard st.owner == caller.uid else {
            throw .refused("images directory \(shown) belongs to uid \(st.owner), not to the caller (uid \(caller.uid))")
        }
        guard !st.isGroupOrWorldWritable else {
            throw .refused("images directory \(shown) is writable by group or others (mode \(String(st.permissions, radix: 8)))")
        }
        try checkAncestors(of: opened, status: st, shown: shown, caller: caller)
        return ImagesDirectory(path: path, fd: opened, caller: caller)
    }

    /// Every directory above the images directory must be one that only root
    /// or the caller can change: owned by one of them, and writable by group
    /// or others only with the sticky bit (then only an entry's owner may
    /// rename or remove it). Otherwise another user could swap a directory on
    /// the path — between the helper's checks and criu opening the page files,
    /// which restore links by path (PrivateCopy), they chose the restored
    /// job's memory (red team 8). Walked on the path the kernel knows the
    /// opened directory by, one component at a time, following no link, and
    /// bound to the opened directory by device and inode at the end.
    /// With `includingItself`, the opened directory must pass the same rule
    /// (the parent of an images directory about to be created).
    static func checkAncestors(of opened: borrowing FileDescriptor, status: FileStatus, shown: String,
                               caller: Caller, includingItself: Bool = false) throws(HelperFailure) {
        guard let canonical = opened.currentPath(), canonical.hasPrefix("/"), !canonical.hasSuffix(" (deleted)") else {
            throw .refused("images directory \(shown) has no path from / (removed, or in another mount namespace)")
        }
        var current: FileDescriptor
        do { current = try FileDescriptor.open("/", [.directory, .pathOnly]) }
        catch { throw .internalError("open /: \(error.errno)") }
        var walked = "/"
        for component in canonical.split(separator: "/") {
            let above: FileStatus
            do { above = try current.status() } catch { throw .internalError("fstat \(RequestParser.shown(walked)): \(error.errno)") }
            if let why = ancestorProblem(above, callerUID: caller.uid) {
                throw .refused("images directory \(shown) is inside \(RequestParser.shown(walked)), \(why): another user could swap what a restore reads")
            }
            do { current = try current.open(String(component), [.directory, .pathOnly, .noFollow], resolve: [.noSymlinks]) }
            catch { throw .refused("images directory \(shown) changed while its path \(RequestParser.shown(canonical)) was checked (\(error.errno))") }
            walked += (walked == "/" ? "" : "/") + component
        }
        let reached: FileStatus
        do { reached = try current.status() } catch { throw .internalError("fstat \(RequestParser.shown(canonical)): \(error.errno)") }
        guard reached.device == status.device, reached.inode == status.inode else {
            throw .refused("images directory \(shown) changed while its path \(RequestParser.shown(canonical)) was checked")
        }
        if includingItself, let why = ancestorProblem(reached, callerUID: caller.uid) {
            throw .refused("images directory \(shown) would be inside \(RequestParser.shown(canonical)), \(why): another user could swap what a restore reads")
        }
    }

    /// Why a directory above the images directory lets someone other than
    /// root or the caller change it, or nil.
    public static func ancestorProblem(_ st: FileStatus, callerUID: UInt32) -> String? {
        guard st.owner == 0 || st.owner == callerUID else { return "which belongs to uid \(st.owner)" }
        guard !st.isGroupOrWorldWritable || st.isSticky else {
            return "which group or others may write to without the sticky bit (mode \(String(st.permissions, radix: 8)))"
        }
        return nil
    }

    /// lstat(2): O_NOFOLLOW|O_DIRECTORY on a final symbolic link says
    /// ENOTDIR; this tells the two apart for the message.
    static func isSymbolicLink(_ path: String) -> Bool {
        (try? FileDescriptor.open(".", [.directory]).status(of: path))?.isSymbolicLink ?? false
    }

    private static func createLast(_ path: String, caller: Caller) throws(HelperFailure) -> FileDescriptor {
        let shown = RequestParser.shown(path)
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        let slash = trimmed.lastIndex(of: "/")
        let parentPath = slash.map { $0 == trimmed.startIndex ? "/" : String(trimmed[..<$0]) } ?? "."
        let name = slash.map { String(trimmed[trimmed.index(after: $0)...]) } ?? String(trimmed)
        guard !name.isEmpty, name != ".", name != ".." else { throw .usage("cannot create images directory \(shown)") }
        let parent: FileDescriptor
        do { parent = try FileDescriptor.open(parentPath, [.directory, .noFollow], resolve: [.noSymlinks, .noMagicLinks]) }
        catch { throw failure(for: error, shown: shown) }
        // Nothing is created where the directory would then be refused.
        let parentStatus: FileStatus
        do { parentStatus = try parent.status() } catch { throw .internalError("fstat \(RequestParser.shown(parentPath)): \(error.errno)") }
        try checkAncestors(of: parent, status: parentStatus, shown: shown, caller: caller, includingItself: true)
        do {
            do { try parent.makeDirectory(name, mode: 0o700) } catch where error.errno == .fileExists {}
            return try parent.open(name, [.directory, .noFollow], resolve: [.noSymlinks, .beneath])
        } catch {
            throw failure(for: error, shown: shown)
        }
    }

    static func failure(for error: SystemError, shown: String) -> HelperFailure {
        switch error.errno {
        case .tooManySymbolicLinks, .crossDevice:
            return .refused("images directory \(shown) is, or goes through, a symbolic link")
        case .notDirectory:
            return .refused("images directory \(shown) is not a directory")
        case .noSuchFileOrDirectory:
            return .refused("images directory \(shown) does not exist")
        case .permissionDenied, .notPermitted:
            return .refused("images directory \(shown) is not accessible to the caller")
        default:
            return .refused("cannot open images directory \(shown): \(error.errno)")
        }
    }

    /// Takes the directory's lock: flock(2) on DIR/lock, a file of the
    /// caller's that nobody else may open (mode 0600; created so). Not on the
    /// directory itself: a directory of mode 0755 can be opened, and flocked,
    /// by any user. Waits up to `timeoutSeconds` for another request of the
    /// caller's, then refuses.
    public func lock(timeoutSeconds: Int) throws(HelperFailure) {
        let shownLock = RequestParser.shown(shown(Self.lockName))
        let file: FileDescriptor
        do {
            file = try fd.open(Self.lockName, [.readWrite, .create, .noFollow, .nonBlocking], mode: 0o600,
                               resolve: [.noSymlinks, .beneath])
        } catch {
            throw .refused("cannot open the lock \(shownLock): \(error.errno)")
        }
        let st: FileStatus
        do { st = try file.status() } catch { throw .internalError("fstat \(shownLock): \(error.errno)") }
        guard st.isRegularFile, st.linkCount == 1 else { throw .refused("\(shownLock) is not a plain file of its own") }
        guard st.owner == caller.uid else { throw .refused("\(shownLock) belongs to uid \(st.owner), not to the caller") }
        guard st.permissions & 0o077 == 0 else {
            throw .refused("\(shownLock) may be opened by others (mode \(String(st.permissions, radix: 8))); remove it")
        }
        let deadline = Kernel.monotonicNanoseconds + UInt64(timeoutSeconds) * 1_000_000_000
        while true {
            let taken: Bool
            do {
                taken = try file.tryLockExclusive()
            } catch {
                throw .internalError("flock \(shownLock): \(error.errno)")
            }
            if taken { break }
            guard Kernel.monotonicNanoseconds < deadline else {
                throw .refused("another criu-helper request is using images directory \(RequestParser.shown(path)) (waited \(timeoutSeconds) s)")
            }
            Kernel.sleep(nanoseconds: 50_000_000)
        }
        lockFile = consume file
    }

    /// Lets go of the lock (the next request on the directory may start).
    public func unlock() { lockFile = nil }

    /// Nothing in the directory may be a symbolic link, FIFO, socket or
    /// device, and no regular file may have a second name elsewhere.
    public func checkContents() throws(HelperFailure) {
        try Self.checkEntries(of: fd, shownPath: path, caller: caller, allowDirectories: true)
    }

    static func checkEntries(of dir: borrowing FileDescriptor, shownPath: String, caller: Caller,
                             allowDirectories: Bool, allowedLinks: Set<String> = []) throws(HelperFailure) {
        let names: [String]
        do { names = try dir.entries() } catch { throw .internalError("cannot list \(RequestParser.shown(shownPath)): \(error.errno)") }
        for name in names {
            let st: FileStatus
            do { st = try dir.status(of: name) } catch { continue }
            let shown = RequestParser.shown(shownPath + "/" + name)
            if st.isSymbolicLink && allowedLinks.contains(name) { continue }
            if st.isRegularFile {
                guard st.linkCount == 1 else { throw .refused("\(shown) is a hard link (it has \(st.linkCount) names)") }
            } else if st.isDirectory {
                guard allowDirectories else { throw .refused("\(shown) is a directory, which does not belong there") }
            } else {
                throw .refused("\(shown) is \(st.kindDescription), which does not belong in an images directory")
            }
            guard st.owner == caller.uid else { throw .refused("\(shown) belongs to uid \(st.owner), not to the caller") }
        }
    }

    /// All generations present, oldest first.
    public func generations() throws(HelperFailure) -> [(generation: Generation, state: Generation.State)] {
        let names: [String]
        do { names = try fd.entries() } catch { throw .internalError("cannot list \(RequestParser.shown(path)): \(error.errno)") }
        return names.compactMap { Generation.parse($0) }.sorted { $0.0 < $1.0 }.map { (generation: $0.0, state: $0.1) }
    }

    /// The good generations, oldest first.
    public func goodGenerations() throws(HelperFailure) -> [Generation] {
        try generations().filter { $0.state == .good }.map(\.generation)
    }

    /// Opens a generation's directory (no symbolic links, beneath this one).
    public func openGeneration(_ name: String) throws(HelperFailure) -> FileDescriptor {
        do {
            let dir = try fd.open(name, [.directory, .noFollow], resolve: [.noSymlinks, .beneath])
            let st = try dir.status()
            guard st.owner == caller.uid, !st.isGroupOrWorldWritable else {
                throw HelperFailure.refused("generation \(RequestParser.shown(path + "/" + name)) is not the caller's private directory")
            }
            return dir
        } catch let failure as HelperFailure {
            throw failure
        } catch let error as SystemError {
            throw Self.failure(for: error, shown: RequestParser.shown(path + "/" + name))
        } catch {
            throw .internalError("\(error)")
        }
    }

    /// The number the next generation will have.
    public func nextGeneration() throws(HelperFailure) -> Generation {
        Generation(number: (try generations().last?.generation.number ?? 0) + 1)
    }

    /// Starts generation `next` as `gNNNNNN.partial` (open it with
    /// `openGeneration(generation.partialName)`). Removes leftovers of dumps
    /// that were killed (other `.partial` directories) and all but the
    /// newest `.failed` one: the lock is held, so no other request is
    /// writing them.
    public func beginGeneration(_ next: Generation) throws(HelperFailure) {
        let all = try generations()
        let newestFailed = all.last(where: { $0.state == .failed })?.generation
        for (generation, state) in all {
            if state == .partial { removeQuietly(generation.partialName) }
            if state == .failed && generation != newestFailed { removeQuietly(generation.failedName) }
        }
        do {
            try fd.makeDirectory(next.partialName, mode: 0o700)
        } catch {
            throw error.errno == .noSpace
                ? .unavailable("no space left to create a generation in \(RequestParser.shown(path))")
                : .internalError("cannot create \(next.partialName): \(error.errno)")
        }
    }

    /// The atomic switch: `gNNNNNN.partial` becomes `gNNNNNN`.
    public func commit(_ generation: Generation) throws(HelperFailure) {
        do { try fd.rename(generation.partialName, to: generation.name) } catch {
            throw .internalError("cannot commit \(generation.name): \(error.errno)")
        }
        fd.sync()
    }

    /// Marks `generation` as one the job ran on after: dumped leaving the job
    /// running, or restored. Only then was anything written after the
    /// checkpoint the job's own (OutputFiles cuts it on the next resume);
    /// after a checkpoint that ended the job, only others wrote (the
    /// scheduler's wrapper, the helper itself).
    public static let ranAfterName = "ran-after"
    public func markRanAfter(_ generation: String) {
        guard let gen = try? openGeneration(generation) else { return }
        // O_NONBLOCK: a FIFO in its place fails (ENXIO) instead of waiting for a reader.
        _ = try? gen.open(Self.ranAfterName, [.writeOnly, .create, .noFollow, .nonBlocking], mode: 0o600,
                          resolve: [.noSymlinks, .beneath])
    }

    /// Keeps a failed generation's log for the author; its images are removed.
    public func markFailed(_ generation: Generation) {
        if let dir = try? openGeneration(generation.partialName), let names = try? dir.entries() {
            for name in names where !name.hasSuffix(".log") { try? dir.removeTree(name) }
        }
        try? fd.rename(generation.partialName, to: generation.failedName)
    }

    /// Removes a generation whose images failed the post-dump check, logs and all.
    public func discard(_ name: String) { removeQuietly(name) }

    /// Removes good generations beyond the newest `keep`, except those that a
    /// kept generation still needs as a parent (incremental dumps).
    public func prune(keep: Int, neededParents: Set<String> = []) {
        guard let good = try? goodGenerations(), good.count > keep else { return }
        for generation in good.dropLast(keep) where !neededParents.contains(generation.name) {
            removeQuietly(generation.name)
        }
    }

    func removeQuietly(_ name: String) { try? fd.removeTree(name) }

    /// A path for messages: the directory as the caller named it, plus `name`.
    public func shown(_ name: String) -> String { path.hasSuffix("/") ? path + name : path + "/" + name }
}
