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
            """), restore: restore) { [:] }
        #expect(block?.holder.pid == 777 && block?.waiter.pid == 201 && block?.waiter.inode == 6)
    }

    @Test("waits that are not the restore's, or whose holder is in it: no block")
    func notABlock() {
        #expect(LockWatch.block(in: entries("""
            2: FLOCK  ADVISORY  WRITE 777 fe:00:6 0 EOF
            2: -> FLOCK  ADVISORY  WRITE 778 fe:00:6 0 EOF
            """), restore: restore) { [:] } == nil, "someone else's wait")
        #expect(LockWatch.block(in: entries("""
            2: POSIX  ADVISORY  WRITE 200 fe:00:6 0 EOF
            2: -> POSIX  ADVISORY  WRITE 201 fe:00:6 0 EOF
            """), restore: restore) { [:] } == nil, "held inside the restore: criu's own order")
        #expect(LockWatch.block(in: entries("""
            2: -> FLOCK  ADVISORY  WRITE 201 fe:00:6 0 EOF
            """), restore: restore) { [:] } == nil, "no holder listed")
    }

    @Test("an OFD wait (no PID) counts when it is on a file the restore opens")
    func ofd() {
        let table = entries("""
            5: OFDLCK ADVISORY  WRITE -1 fe:00:9 0 EOF
            5: -> OFDLCK ADVISORY  WRITE -1 fe:00:9 0 EOF
            """)
        #expect(LockWatch.block(in: table, restore: restore) { [ID(device: 0xfe00, inode: 9): "/home/u/data"] }?.holder.pid == nil)
        #expect(LockWatch.block(in: table, restore: restore) { [ID(device: 0xfe00, inode: 10): "/home/u/other"] } == nil)
        var asked = false
        _ = LockWatch.block(in: entries("1: -> FLOCK  ADVISORY  WRITE 201 fe:00:6 0 EOF\n1: FLOCK  ADVISORY  WRITE 7 fe:00:6 0 EOF"),
                            restore: restore) { asked = true; return [:] }
        #expect(!asked, "the restore's files are looked up only for an OFD wait")
    }

    /// A fixture /proc: reaper 199, criu 200 below it, restored task 201
    /// below criu; process 777 of uid 4242; `locks` as given.
    func fixture(locks: String) throws -> (ProcFilesystem, String) {
        let root = NSTemporaryDirectory() + "proc-locks-\(UUID().uuidString)"
        let fm = FileManager.default
        for (pid, children) in [(199, "200 "), (200, "201 "), (201, ""), (777, "")] {
            try fm.createDirectory(atPath: "\(root)/\(pid)/task/\(pid)", withIntermediateDirectories: true)
            try children.write(toFile: "\(root)/\(pid)/task/\(pid)/children", atomically: true, encoding: .utf8)
        }
        try ProcTests.status(uid: 4242, pid: 777).write(toFile: "\(root)/777/status", atomically: true, encoding: .utf8)
        try locks.write(toFile: "\(root)/locks", atomically: true, encoding: .utf8)
        let proc = ProcFilesystem(root: try FileDescriptor.open(root, [.directory])) { (_: Int32) throws(SystemError) -> any ProcessPin in ProcTests.Pin() }
        return (proc, root)
    }

    @Test("the same wait for the window: a block with the holder's uid; a wait that ends or changes starts the window again")
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

        var restarted = LockWatch(proc: proc, below: 199, files: { [:] }, windowNanoseconds: 5_000)
        #expect(restarted.blocked(now: 1_000) == nil)
        try "1: FLOCK  ADVISORY  WRITE 777 fe:00:6 0 EOF\n".write(toFile: "\(root)/locks", atomically: true, encoding: .utf8)
        #expect(restarted.blocked(now: 3_000) == nil, "the wait ended")
        try blocked.write(toFile: "\(root)/locks", atomically: true, encoding: .utf8)
        #expect(restarted.blocked(now: 4_000) == nil, "a new wait starts the window again")
        #expect(restarted.blocked(now: 8_999) == nil)
        #expect(restarted.blocked(now: 9_000) != nil)
    }
}
