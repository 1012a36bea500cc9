import Foundation
import Glibc
import LinuxSystem
import ProcessTree
import Testing

/// /proc/locks, and the lock watch on a fixture /proc: a restore whose task
/// waits for a lock held outside it (red team 8) is told from one that works.
@Suite("the lock watch")
struct LockWatchTests {
    @Test("lines of /proc/locks: held and waiting, flock, POSIX, OFD, lease; other shapes skipped")
    func parse() {
        #expect(FileLockEntry.parse("1: FLOCK  ADVISORY  WRITE 9986 fe:00:16220406 0 EOF")
            == FileLockEntry(ordinal: 1, waiting: false, kind: "FLOCK", pid: 9986, device: 0xfe00, inode: 16_220_406))
        #expect(FileLockEntry.parse("1: -> POSIX  ADVISORY  WRITE 10069 fe:00:16220406 0 EOF")
            == FileLockEntry(ordinal: 1, waiting: true, kind: "POSIX", pid: 10069, device: 0xfe00, inode: 16_220_406))
        #expect(FileLockEntry.parse("12: -> OFDLCK ADVISORY  WRITE -1 00:2d:77 0 EOF")
            == FileLockEntry(ordinal: 12, waiting: true, kind: "OFDLCK", pid: nil, device: 0x2d, inode: 77))
        #expect(FileLockEntry.parse("3: LEASE  BREAKING  READ 4242 103:05:12 0 EOF")
            == FileLockEntry(ordinal: 3, waiting: false, kind: "LEASE", pid: 4242, device: (0x103 << 8) | 5, inode: 12))
        // minor above 255 (glibc's makedev puts its high bits at 20).
        #expect(FileLockEntry.parse("4: POSIX  ADVISORY  READ 1 08:101:9 0 EOF")?.device == (8 << 8) | 0x01 | (0x100 << 12))
        // A task waiting in open(2) for a lease to be broken: no file of its own.
        #expect(FileLockEntry.parse("3: -> LEASE  BREAKER  READ 4243 <none>:0 0 EOF")
            == FileLockEntry(ordinal: 3, waiting: true, kind: "LEASE", pid: 4243, device: 0, inode: 0))
        #expect(FileLockEntry.parse("garbage") == nil)
        #expect(FileLockEntry.parse("1: FLOCK ADVISORY WRITE 9986 fe:zz:1 0 EOF") == nil)
        #expect(FileLockEntry.parse("x: FLOCK ADVISORY WRITE 9986 fe:00:1 0 EOF") == nil)
    }

    @Test("the device and inode /proc/locks shows are those stat gives (a real flock of this process)")
    func realLock() throws {
        let path = NSTemporaryDirectory() + "lockwatch-\(UUID().uuidString)"
        let fd = open(path, O_RDWR | O_CREAT, 0o600)
        try #require(fd >= 0)
        defer { close(fd); unlink(path) }
        try #require(flock(fd, LOCK_EX) == 0)
        var st = stat()
        try #require(fstat(fd, &st) == 0)
        let table = FileLockEntry.parseTable(try String(contentsOfFile: "/proc/locks", encoding: .utf8))
        let mine = table.filter { $0.pid == getpid() && $0.kind == "FLOCK" }
        #expect(mine.contains { $0.device == UInt64(st.st_dev) && $0.inode == UInt64(st.st_ino) }, "\(mine) vs dev \(st.st_dev) ino \(st.st_ino)")
    }

    typealias ID = LockWatch.FileIdentity
    let restore: Set<Int32> = [200, 201]

    func entries(_ text: String) -> [FileLockEntry] { FileLockEntry.parseTable(text) }

    @Test("a task of the restore waits for a lock held outside it: a block, naming the holder")
    func outsideHolder() {
        let block = LockWatch.block(in: entries("""
            1: POSIX  ADVISORY  WRITE 900 fe:00:5 0 EOF
            2: FLOCK  ADVISORY  WRITE 777 fe:00:6 0 EOF
            2: -> FLOCK  ADVISORY  WRITE 201 fe:00:6 0 EOF
            """), restore: restore)
        #expect(block?.holder.pid == 777 && block?.waiter.pid == 201 && block?.waiter.inode == 6)
    }

    @Test("waits that are not the restore's, or that no held lock blocks: no block")
    func notABlock() {
        #expect(LockWatch.block(in: entries("""
            2: FLOCK  ADVISORY  WRITE 777 fe:00:6 0 EOF
            2: -> FLOCK  ADVISORY  WRITE 778 fe:00:6 0 EOF
            """), restore: restore) == nil, "someone else's wait")
        #expect(LockWatch.block(in: entries("""
            2: -> FLOCK  ADVISORY  WRITE 201 fe:00:6 0 EOF
            """), restore: restore) == nil, "no holder listed")
    }

    @Test("red team 10: a lock /proc lists under a PID of the restore (taken by a process that ended, the number reused) still blocks it")
    func staleHolderNumber() {
        let block = LockWatch.block(in: entries("""
            2: FLOCK  ADVISORY  READ 200 fe:00:6 0 EOF
            2: -> FLOCK  ADVISORY  WRITE 201 fe:00:6 0 EOF
            """), restore: restore)
        #expect(block?.holder.pid == 200 && block?.holderNumberIsTheRestores == true, "\(String(describing: block))")
    }

    @Test("an OFD wait (no PID) is never the restore's, even on a file it opens (criu takes OFD locks without waiting): another user's OFD waiter cannot fake a block")
    func ofd() {
        #expect(LockWatch.block(in: entries("""
            5: OFDLCK ADVISORY  WRITE -1 fe:00:9 0 EOF
            5: -> OFDLCK ADVISORY  WRITE -1 fe:00:9 0 EOF
            """), restore: restore) == nil)
    }

    @Test("a restored task waiting in open(2) for another process's lease to be broken is blocked by it")
    func leaseBreak() {
        let block = LockWatch.block(in: entries("""
            3: LEASE  BREAKING  READ 777 fe:00:12 0 EOF
            3: -> LEASE  BREAKER  READ 201 <none>:0 0 EOF
            """), restore: restore)
        #expect(block?.holder.pid == 777 && block?.holder.inode == 12 && block?.waiter.pid == 201, "\(String(describing: block))")
    }

    /// A fixture /proc: reaper 199, criu 200 below it, restored task 201
    /// below criu, all asleep (state S, no CPU time counted); process 777
    /// of uid 4242; `locks` as given.
    func fixture(locks: String) throws -> (ProcFilesystem, String) {
        let root = NSTemporaryDirectory() + "proc-locks-\(UUID().uuidString)"
        let fm = FileManager.default
        for (pid, children) in [(199, "200 "), (200, "201 "), (201, ""), (777, "")] {
            try fm.createDirectory(atPath: "\(root)/\(pid)/task/\(pid)", withIntermediateDirectories: true)
            try children.write(toFile: "\(root)/\(pid)/task/\(pid)/children", atomically: true, encoding: .utf8)
            try Self.run(root, Int32(pid), state: "S", ran: 0)
        }
        try ProcTests.status(uid: 4242, pid: 777).write(toFile: "\(root)/777/status", atomically: true, encoding: .utf8)
        try locks.write(toFile: "\(root)/locks", atomically: true, encoding: .utf8)
        let proc = ProcFilesystem(root: try FileDescriptor.open(root, [.directory])) { (_: Int32) throws(SystemError) -> any ProcessPin in ProcTests.Pin() }
        return (proc, root)
    }

    /// Thread `pid` of the fixture: its state and the CPU time counted.
    static func run(_ root: String, _ pid: Int32, state: Character, ran: UInt64) throws {
        try "\(ran) 0 0\n".write(toFile: "\(root)/\(pid)/task/\(pid)/schedstat", atomically: true, encoding: .utf8)
        try "\(pid) (t) \(state) 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n"
            .write(toFile: "\(root)/\(pid)/task/\(pid)/stat", atomically: true, encoding: .utf8)
    }

    @Test("while the restore runs (5 % of the time or more) or anything of it is runnable, it is not blocked, whatever /proc/locks says; only time asleep counts")
    func running() throws {
        let blocked = "1: FLOCK  ADVISORY  WRITE 777 fe:00:6 0 EOF\n1: -> FLOCK  ADVISORY  WRITE 201 fe:00:6 0 EOF\n"
        let (proc, root) = try fixture(locks: blocked)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var watch = LockWatch(proc: proc, below: 199, files: { [:] }, windowNanoseconds: 5_000)
        #expect(watch.blocked(now: 1_000) == nil, "first seen")
        #expect(watch.blocked(now: 2_000) == nil, "1 unit asleep and blocked")
        try Self.run(root, 200, state: "S", ran: 49)
        #expect(watch.blocked(now: 3_000) == nil, "criu ran 49 of 1,000 (under 5 %): still blocked, 2 units")
        try Self.run(root, 200, state: "S", ran: 400)
        #expect(watch.blocked(now: 9_000) == nil, "criu ran 351 of 6,000 (5.85 %) since: not blocked, not counted")
        try Self.run(root, 200, state: "R", ran: 400)
        #expect(watch.blocked(now: 10_000) == nil, "criu runnable: not blocked")
        try Self.run(root, 200, state: "S", ran: 400)
        #expect(watch.blocked(now: 11_000) == nil, "asleep again, blocked from here")
        #expect(watch.blocked(now: 13_999) == nil, "2 + 2.999 units")
        #expect(watch.blocked(now: 14_000)?.holder.pid == 777, "5 units blocked while asleep")
    }

    @Test("red team 11: a /proc/locks that cannot be read within the budget (another user's flood of locks) while the restore sleeps counts as blocked, unnamed")
    func unreadableTable() throws {
        let (proc, root) = try fixture(locks: "")
        defer { try? FileManager.default.removeItem(atPath: root) }
        // Too large stands for too slow: both fail the read.
        try FileManager.default.removeItem(atPath: "\(root)/locks")
        var watch = LockWatch(proc: proc, below: 199, files: { [:] }, windowNanoseconds: 5_000)
        #expect(watch.blocked(now: 1_000) == nil)
        let block = watch.blocked(now: 6_000)
        #expect(block?.tableUnreadable == true, "\(String(describing: block))")
        // Running, an unreadable table is no block.
        var busy = LockWatch(proc: proc, below: 199, files: { [:] }, windowNanoseconds: 5_000)
        try Self.run(root, 201, state: "R", ran: 0)
        #expect(busy.blocked(now: 1_000) == nil && busy.blocked(now: 6_000) == nil && busy.blocked(now: 12_000) == nil)
    }

    @Test("a read of /proc that ends after its deadline fails with ETIME")
    func deadline() throws {
        let (proc, root) = try fixture(locks: "1: FLOCK  ADVISORY  WRITE 777 fe:00:6 0 EOF\n")
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(throws: SystemError.self) { try proc.lines("locks", limit: 1 << 20, until: 0) { _ in } }
        var lines = 0
        try proc.lines("locks", limit: 1 << 20, until: Kernel.monotonicNanoseconds + 60_000_000_000) { _ in lines += 1 }
        #expect(lines == 1)
    }

    @Test("blocked for the window in all: a block with the holder's uid, named from the holder's file; whichever lock, line number or file it is")
    func window() throws {
        let blocked = "1: FLOCK  ADVISORY  WRITE 777 fe:00:6 0 EOF\n1: -> FLOCK  ADVISORY  WRITE 201 fe:00:6 0 EOF\n"
        let (proc, root) = try fixture(locks: blocked)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var lookups = 0
        var watch = LockWatch(proc: proc, below: 199, files: { lookups += 1; return [ID(device: 0xfe00, inode: 6): "/home/u/lock"] },
                              windowNanoseconds: 5_000)
        #expect(watch.blocked(now: 1_000) == nil, "first seen")
        #expect(watch.blocked(now: 5_999) == nil, "not yet the window")
        let block = watch.blocked(now: 6_000)
        #expect(block?.holder.pid == 777 && block?.holderUID == 4242, "\(String(describing: block))")
        #expect(block?.path == "/home/u/lock" && lookups == 1, "the file named from one lookup: \(String(describing: block)), \(lookups)")

        // Red team 9: other locks taken and dropped move the wait's line
        // number; the holder hands over from file to file. Still one block.
        var moving = LockWatch(proc: proc, below: 199, files: { [:] }, windowNanoseconds: 5_000)
        var now: UInt64 = 1_000
        for step in 0..<5 {
            let n = step + 1
            let filler = (0..<step).map { "\($0 + 1): FLOCK  ADVISORY  WRITE 888 fe:00:\(100 + $0) 0 EOF\n" }.joined()
            try (filler + "\(n): FLOCK  ADVISORY  WRITE 777 fe:00:\(6 + step) 0 EOF\n\(n): -> FLOCK  ADVISORY  WRITE 201 fe:00:\(6 + step) 0 EOF\n")
                .write(toFile: "\(root)/locks", atomically: true, encoding: .utf8)
            #expect(moving.blocked(now: now) == nil, "step \(step)")
            now += 1_000
        }
        #expect(moving.blocked(now: now) != nil, "5 units blocked in all, over five locks and line numbers")

        // Time not blocked does not count; time blocked before it does.
        var paused = LockWatch(proc: proc, below: 199, files: { [:] }, windowNanoseconds: 5_000)
        try blocked.write(toFile: "\(root)/locks", atomically: true, encoding: .utf8)
        #expect(paused.blocked(now: 1_000) == nil)
        #expect(paused.blocked(now: 4_000) == nil, "3 units blocked")
        try "1: FLOCK  ADVISORY  WRITE 777 fe:00:6 0 EOF\n".write(toFile: "\(root)/locks", atomically: true, encoding: .utf8)
        #expect(paused.blocked(now: 10_000) == nil, "the wait ended: not counted")
        try blocked.write(toFile: "\(root)/locks", atomically: true, encoding: .utf8)
        #expect(paused.blocked(now: 11_000) == nil, "blocked again")
        #expect(paused.blocked(now: 12_999) == nil, "4.999 units in all")
        #expect(paused.blocked(now: 13_000) != nil, "5 in all")
    }

    @Test("a /proc/locks larger than any fixed buffer is read whole (red team 9: 60,000 locks, 5 MB, hid the wait)")
    func largeTable() throws {
        var text = ""
        text.reserveCapacity(6 << 20)
        for i in 0..<80_000 { text += "\(i + 1): POSIX  ADVISORY  WRITE 888 fe:00:\(1_000 + i) 4611686018427387904 4611686018427387904\n" }
        text += "80001: FLOCK  ADVISORY  WRITE 777 fe:00:6 0 EOF\n80001: -> FLOCK  ADVISORY  WRITE 201 fe:00:6 0 EOF\n"
        #expect(text.utf8.count > 5 << 20)
        let (proc, root) = try fixture(locks: text)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var watch = LockWatch(proc: proc, below: 199, files: { [:] }, windowNanoseconds: 5_000)
        watch.readBudget = 120_000_000_000 // parsing 6 MB, unoptimised, on a busy machine
        #expect(watch.blocked(now: 1_000) == nil)
        #expect(watch.blocked(now: 6_000)?.holder.pid == 777)
    }
}
