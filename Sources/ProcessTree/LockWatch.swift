import LinuxSystem

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
        // A lease breaker (a task waiting in open(2) for a lease to be
        // given up) has no file of its own: "PID <none>:0", device and inode 0.
        guard let kind = words.first,
              let idIndex = words.firstIndex(where: { $0 == "<none>:0" || $0.split(separator: ":").count == 3 }),
              idIndex > words.startIndex + 1, let pidValue = Int64(words[idIndex - 1]) else { return nil }
        var device: UInt64 = 0
        var inode: UInt64 = 0
        if words[idIndex] != "<none>:0" {
            let id = words[idIndex].split(separator: ":")
            guard let major = UInt64(id[0], radix: 16), let minor = UInt64(id[1], radix: 16), let number = UInt64(id[2]) else { return nil }
            device = ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xff) << 12) | ((major & ~0xfff) << 32)
            inode = number
        }
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
    /// /proc/locks could not be read within `LockWatch.readBudget` (or
    /// held more than `LockWatch.maximumTable`) while the restore slept:
    /// waiter and holder are then unknown (their fields are zero).
    public var tableUnreadable = false
    /// The holder's real uid, when /proc still shows it.
    public var holderUID: UInt32?
    /// The locked file's path among the restore's files, when it is one.
    public var path: String?
    /// /proc lists the holder under a PID that is now a process of the
    /// restore: the process that took the lock has ended.
    public var holderNumberIsTheRestores = false

    static let unreadableTable: LockBlock = {
        let none = FileLockEntry(ordinal: 0, waiting: false, kind: "", pid: nil, device: 0, inode: 0)
        var block = LockBlock(waiter: none, holder: none)
        block.tableUnreadable = true
        return block
    }()
}

/// Tells a restore that waits for file locks held outside it.
///
/// criu takes each lock of the job again (`--file-locks`) in the restored
/// task, blocking (flock, POSIX; OFD locks and leases it takes without
/// waiting, and fails), and its open(2) of a file waits while another
/// process's lease on it is broken (up to lease-break-time, 45 s): when
/// another process locked a file between the dump and the restore, criu
/// waits, holding its capability, and the stall watch sees nothing stopped.
/// While the restore runs (its threads below the reaper counted 5 % of the
/// time since the previous sample or more, or one is runnable or in D), it
/// is not blocked, and nothing more is read. While all of it sleeps, the
/// lock watch reads /proc/locks (world-readable; PIDs as the helper's
/// /proc numbers them) for a waiting lock of a process below the restore's
/// reaper, whoever /proc says holds the blocking lock (it lists the PID
/// that took a lock, also once that process has ended and its number has
/// gone to a process of the restore). The time
/// the restore spends so blocked is added up over the whole restore —
/// whichever lock, file or line of /proc/locks it is — and once it reaches
/// `window` that is a block: a restore never waits for a lock legitimately
/// (the locks it takes again were held together at the dump). Any user can
/// make /proc/locks slow to read (the kernel walks the table from its start
/// again at every read(2); 100,000 POSIX locks take seconds): a sample reads
/// it for `readBudget` at most, and a sleeping restore whose table cannot
/// be read in that time counts as blocked too (red team 11: a flood of
/// locks had each sample take minutes, so that neither this watch nor
/// criu-timeout ended a restore that waited for a lock).
public struct LockWatch {
    let proc: ProcFilesystem
    let root: Int32
    let files: () -> [FileIdentity: String]
    let window: UInt64
    /// The previous sample, when it saw the restore blocked.
    var blockedAt: UInt64?
    /// CPU time of the restore's threads at the previous sample, and when.
    var treeRan: (time: UInt64, at: UInt64)?
    /// Time blocked so far, over the whole restore.
    var blockedTotal: UInt64 = 0
    /// /proc/locks is read as a stream, this much at most a sample (a
    /// larger one is unreadable, as one too slow to read).
    static let maximumTable = 256 << 20
    /// How long one sample may read /proc/locks (red team 11, beside the
    /// test suite: 100,000 locks, 7 MB, took 7.2 s in 4 KiB reads, 4.4 s
    /// in 1 MiB reads; 200,000 took 33 s).
    public var readBudget: UInt64 = 1_000_000_000

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
    /// opens, with their paths, asked for once a block is found (to name it).
    public init(proc: ProcFilesystem, below root: Int32, files: @escaping () -> [FileIdentity: String], windowNanoseconds: UInt64) {
        self.proc = proc
        self.root = root
        self.files = files
        self.window = windowNanoseconds
    }

    /// One sample at `now` (monotonic nanoseconds): the block once the
    /// restore has been blocked for the window in all (asleep, and either
    /// waiting for a lock held outside it or with /proc/locks unreadable
    /// within `readBudget`), nil until then and while it runs.
    public mutating func blocked(now: UInt64) -> LockBlock? {
        guard asleep(now: now) else { blockedAt = nil; return nil }
        let block: LockBlock
        switch Self.waits(in: proc, until: Kernel.monotonicNanoseconds &+ readBudget) {
        case .failure:
            block = LockBlock.unreadableTable
        case .success(let waits):
            guard !waits.isEmpty else { blockedAt = nil; return nil }
            guard let tree = restoreProcesses() else { return nil }
            guard let found = Self.block(in: waits, restore: tree) else { blockedAt = nil; return nil }
            block = found
        }
        if let previous = blockedAt { blockedTotal &+= now &- previous }
        blockedAt = now
        guard blockedTotal >= window else { return nil }
        var found = block
        guard !block.tableUnreadable else { return found }
        if let pid = block.holder.pid, !block.holderNumberIsTheRestores, let status = try? proc.status(String(pid)) {
            found.holderUID = status.uids.first
        }
        found.path = files()[FileIdentity(device: block.holder.device, inode: block.holder.inode)]
        return found
    }

    /// Whether nothing of the restore is runnable or in D, and all of it
    /// ran for less than 5 % of the time since the previous sample (a task
    /// waiting in open(2) for a lease to be broken wakes a hundred times a
    /// second: 0.2 %; a restore that works runs most of the time); false
    /// when it cannot be read. The first sample only starts the count: no
    /// time is added up before a second one.
    mutating func asleep(now: UInt64) -> Bool {
        guard let tree = StallWatch.treeSample(proc, root, extra: []) else { treeRan = nil; return false }
        defer { treeRan = (tree.ran, now) }
        guard !tree.busy else { return false }
        guard let (ran, at) = treeRan else { return true }
        return tree.ran &- ran <= (now &- at) / 20
    }

    /// The lines of /proc/locks that matter, in order: every wait of a
    /// process (an OFD wait names none) after the lock that blocks it (the
    /// last held line before it, with the same number). Read as a stream,
    /// up to `maximumTable` and until `deadline`; the failure says which.
    static func waits(in proc: ProcFilesystem, until deadline: UInt64? = nil) -> Result<[FileLockEntry], SystemError> {
        var kept: [FileLockEntry] = []
        var holder: FileLockEntry?
        var holderKept = false
        do {
            try proc.lines("locks", limit: maximumTable, until: deadline) { line in
                guard let entry = FileLockEntry.parse(line) else { return }
                guard entry.waiting else { holder = entry; holderKept = false; return }
                guard entry.pid != nil, let holder, holder.ordinal == entry.ordinal, kept.count < 1 << 20 else { return }
                if !holderKept { kept.append(holder); holderKept = true }
                kept.append(entry)
            }
        } catch { return .failure(error) }
        return .success(kept)
    }

    /// The first waiting lock of the restore blocked by a lock from outside it.
    public static func block(in entries: [FileLockEntry], restore: Set<Int32>) -> LockBlock? {
        var holder: FileLockEntry?
        for entry in entries {
            guard entry.waiting else { holder = entry; continue }
            // An OFD wait names no process: never the restore's (criu takes
            // OFD locks without waiting), and never counted as one.
            guard let pid = entry.pid, restore.contains(pid) else { continue }
            guard let holder, holder.ordinal == entry.ordinal else { continue }
            // A holder that /proc lists under a PID of the restore counts
            // too: the PID is the one that took the lock, kept after that
            // process ended and passed the descriptor on, and another user
            // can make the restore's processes get such numbers (red team
            // 10). The restore's own locks never block each other (they
            // were held together at the dump).
            var block = LockBlock(waiter: entry, holder: holder)
            block.holderNumberIsTheRestores = holder.pid.map { restore.contains($0) } ?? false
            return block
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
