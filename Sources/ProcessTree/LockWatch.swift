/// One line of /proc/locks: a lock held, or one a process waits for
/// ("N: -> ..."), listed under the lock that blocks it with the same N.
public struct FileLockEntry: Equatable, Sendable {
    public var ordinal: Int
    public var waiting: Bool
    /// FLOCK, POSIX, OFDLCK, LEASE, DELEG …
    public var kind: String
    /// The owner's PID as this /proc numbers it; nil for an OFD lock (-1)
    /// or one whose owner this /proc cannot see (0).
    public var pid: Int32?
    /// st_dev as stat(2) gives it (glibc's makedev of the major and minor).
    public var device: UInt64
    public var inode: UInt64

    public init(ordinal: Int, waiting: Bool, kind: String, pid: Int32?, device: UInt64, inode: UInt64) {
        self.ordinal = ordinal
        self.waiting = waiting
        self.kind = kind
        self.pid = pid
        self.device = device
        self.inode = inode
    }

    /// "1: -> POSIX  ADVISORY  WRITE 10069 fe:00:16220406 0 EOF"; nil for a
    /// line of another shape (those are skipped, never guessed at).
    public static func parse<S: StringProtocol>(_ line: S) -> FileLockEntry? {
        var words = line.split(separator: " ", omittingEmptySubsequences: true)[...]
        guard let first = words.popFirst(), first.hasSuffix(":"), let ordinal = Int(first.dropLast()) else { return nil }
        let waiting = words.first == "->"
        if waiting { words = words.dropFirst() }
        // KIND, then a word or two (ADVISORY/MANDATORY/ACTIVE/BREAKING …,
        // READ/WRITE), then the PID and MAJ:MIN:INODE.
        guard let kind = words.first, let idIndex = words.firstIndex(where: { $0.split(separator: ":").count == 3 }),
              idIndex > words.startIndex + 1, let pidValue = Int64(words[idIndex - 1]) else { return nil }
        let id = words[idIndex].split(separator: ":")
        guard let major = UInt64(id[0], radix: 16), let minor = UInt64(id[1], radix: 16), let inode = UInt64(id[2]) else { return nil }
        let device = ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xff) << 12) | ((major & ~0xfff) << 32)
        let pid: Int32? = pidValue > 0 && pidValue <= Int64(Int32.max) ? Int32(pidValue) : nil
        return FileLockEntry(ordinal: ordinal, waiting: waiting, kind: String(kind), pid: pid, device: device, inode: inode)
    }

    public static func parseTable(_ text: String) -> [FileLockEntry] {
        text.split(separator: "\n").compactMap { parse($0) }
    }
}

/// A task of a restore that waits for a lock someone outside it holds.
public struct LockBlock: Equatable, Sendable {
    public var waiter: FileLockEntry
    /// The blocking lock; its PID is nil for an OFD lock.
    public var holder: FileLockEntry
    /// The holder's real uid, when /proc still shows it.
    public var holderUID: UInt32?
    /// The locked file's path among the restore's files, when it is one.
    public var path: String?
}

/// Tells a restore that waits for a file lock held outside it.
///
/// criu takes each lock of the job again (`--file-locks`) in the restored
/// task, blocking: when another process locked the same file between the
/// dump and the restore, criu waits, holding its capability, until that
/// process lets go or criu-timeout ends the restore; the stall watch sees
/// nothing stopped. The lock watch reads /proc/locks (world-readable; PIDs
/// as the helper's /proc numbers them) and finds a waiting lock of a
/// process below the restore's reaper, or, for an OFD lock (which /proc
/// shows without a PID), one on a file the restore opens; whose blocking
/// lock is not held by a process below the reaper. The same wait seen for
/// `window` is a block: a restore never waits for a lock legitimately
/// (the locks it takes again were held together at the dump).
public struct LockWatch {
    let proc: ProcFilesystem
    let root: Int32
    let files: () -> [FileIdentity: String]
    let window: UInt64
    var seen: (key: FileLockEntry, since: UInt64)?
    var knownFiles: [FileIdentity: String]?

    public struct FileIdentity: Hashable, Sendable {
        public var device: UInt64
        public var inode: UInt64
        public init(device: UInt64, inode: UInt64) {
            self.device = device
            self.inode = inode
        }
    }

    /// `root`: the restore's reaper (as this /proc numbers it); every
    /// process below it is the restore's. `files`: the files the restore
    /// opens, with their paths, asked for once, only when an OFD lock waits
    /// or a block is found.
    public init(proc: ProcFilesystem, below root: Int32, files: @escaping () -> [FileIdentity: String], windowNanoseconds: UInt64) {
        self.proc = proc
        self.root = root
        self.files = files
        self.window = windowNanoseconds
    }

    /// One sample at `now` (monotonic nanoseconds): the block once the same
    /// wait lasted the window, nil until then (or when nothing can be read:
    /// criu-timeout still bounds the restore).
    public mutating func blocked(now: UInt64) -> LockBlock? {
        guard let text = try? proc.read("locks", limit: 4 << 20) else { return nil }
        let entries = FileLockEntry.parseTable(text)
        guard entries.contains(where: \.waiting) else { seen = nil; return nil }
        guard let tree = restoreProcesses() else { return nil }
        var known = knownFiles
        let block = Self.block(in: entries, restore: tree) {
            if known == nil { known = files() }
            return known!
        }
        guard let block else { knownFiles = known; seen = nil; return nil }
        guard let seen, seen.key == block.waiter else {
            self.seen = (block.waiter, now)
            return nil
        }
        guard now &- seen.since >= window else { knownFiles = known; return nil }
        if known == nil { known = files() }
        knownFiles = known
        var found = block
        if let pid = block.holder.pid, let status = try? proc.status(String(pid)) { found.holderUID = status.uids.first }
        found.path = known![FileIdentity(device: block.waiter.device, inode: block.waiter.inode)]
        return found
    }

    /// The first waiting lock of the restore blocked by a lock from outside it.
    public static func block(in entries: [FileLockEntry], restore: Set<Int32>, files: () -> [FileIdentity: String]) -> LockBlock? {
        for waiter in entries where waiter.waiting {
            if let pid = waiter.pid {
                guard restore.contains(pid) else { continue }
            } else {
                guard files()[FileIdentity(device: waiter.device, inode: waiter.inode)] != nil else { continue }
            }
            guard let holder = entries.first(where: { !$0.waiting && $0.ordinal == waiter.ordinal }) else { continue }
            if let pid = holder.pid, restore.contains(pid) { continue }
            return LockBlock(waiter: waiter, holder: holder)
        }
        return nil
    }

    /// The processes below the reaper (at most 65,536), nil when unreadable.
    func restoreProcesses() -> Set<Int32>? {
        var found: Set<Int32> = []
        var pending = [root]
        while let pid = pending.popLast() {
            guard found.count <= 65_536, let children = try? proc.children(of: pid) else { return nil }
            for child in children where found.insert(child).inserted { pending.append(child) }
        }
        return found
    }
}
