import CriuImages
import Foundation
import Testing
import ImageForging

/// State criu-helper checkpoints since criu 4.2 (issue 9): TCP listeners and
/// UDP sockets the caller could make anyway, pidfds of the job's own
/// processes, file locks. Each kind restored for real, then the rule that
/// bounds it shown by a forged generation that the helper refuses before criu
/// starts (the same generation, one value changed).
@Suite("sockets, pidfds and file locks", .serialized, .enabled(if: E2E.enabled))
struct StateTests {
    static let port = 47_000 + Int(getpid() % 1000)
    static let base = "\(User.alice.home)/e2e/state"

    /// A ch-state job of alice's dumped (which ends it); the generation's
    /// path. `beforeDump` runs once the job has started.
    static func dumpedJob(_ name: String, beforeDump: () -> Void = {}) throws -> (dir: String, out: String, generation: String) {
        let dir = User.alice.scratch(name)
        let out = "\(base)/\(name).out"
        Shell.root("rm -rf \(base)/\(name).out \(base)/ch-state.lock")
        Shell.user(.alice, "mkdir -p \(base) && cd \(base) && (\(E2E.helper) run --images-dir \(dir) -- \(E2E.bin)/ch-state \(port) > \(out) 2>&1 &)")
        try #require(eventually(20) { lines(out).contains { $0.hasPrefix("tick 1 ") } }, "the job started: \(lines(out))")
        beforeDump()
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        try #require(dump.status == 0, "\(dump)")
        // The job has ended: its port and lock are free.
        try #require(eventually { Shell.root("ss -Htln 'sport = :\(port)'").stdout.isEmpty }, "the dumped job ended")
        let generation = Shell.root("ls -d \(dir)/g0* | tail -1").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return (dir, out, generation)
    }

    @Test("a TCP listener and a UDP socket on 127.0.0.1, a pidfd of the job's child and an flock: all four work after restore")
    func restored() throws {
        defer { Shell.root("pkill -9 -u \(User.alice.uid)") }
        let (dir, out, _) = try Self.dumpedJob("state")
        #expect(Shell.root("flock -n \(Self.base)/ch-state.lock true").status == 0, "no lock while the job is dumped")
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        try #require(restore.status == 0, "\(restore)")
        let restoredAt = lines(out).count
        #expect(eventually(20) { lines(out).dropFirst(restoredAt).contains { $0.hasSuffix(" child=alive") } },
                "the pidfd refers to the restored child: \(lines(out).suffix(5))")
        #expect(Shell.root("flock -n \(Self.base)/ch-state.lock true").status != 0, "the flock is held again")
        Shell.root("bash -c 'exec 3<>/dev/tcp/127.0.0.1/\(Self.port)'")
        #expect(eventually(20) { lines(out).contains("accepted") }, "the listener accepts: \(lines(out).suffix(5))")
        Shell.root("bash -c 'echo restored > /dev/udp/127.0.0.1/\(Self.port)'")
        #expect(eventually(20) { lines(out).contains("udp restored") }, "the UDP socket receives: \(lines(out).suffix(5))")
    }

    /// Restores a copy of the job's generation with one thing forged in
    /// files.img; expects the refusal `text`, before criu (nothing runs).
    func expectForgedRefused(_ text: String, sourceLocation: SourceLocation = #_sourceLocation,
                             _ transform: @escaping (ProtobufMessage) -> ProtobufMessage) throws {
        defer { Shell.root("pkill -9 -u \(User.alice.uid)") }
        let (dir, _, generation) = try Self.dumpedJob("state-forged")
        ImageForge(directory: generation).rewrite("files.img") { $0.map(transform) }
        Shell.root("chown -R \(User.alice.name): \(generation)")
        let audit = AuditLog.mark()
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(restore.status == 77, "\(restore)", sourceLocation: sourceLocation)
        #expect(restore.message.hasPrefix("criu-helper: refused: ") && restore.message.contains(text), "\(restore)", sourceLocation: sourceLocation)
        #expect(Shell.root("pgrep -u \(User.alice.uid) -x ch-state").stdout.isEmpty, "nothing restored runs", sourceLocation: sourceLocation)
        #expect(Shell.root("ss -Htln 'sport = :\(Self.port)'").stdout.isEmpty, "nothing listens", sourceLocation: sourceLocation)
        #expect(audit.records(containing: dir).contains { $0.contains("op=restore") && $0.contains("res=failed") }, sourceLocation: sourceLocation)
    }

    /// file_entry field 4 is inet_sk_entry: 7 src_port, 11 src_addr (a word in
    /// network byte order, as criu stores it).
    @Test("a forged listener on port 80 (below ip_unprivileged_port_start) is refused")
    func privilegedPort() throws {
        try expectForgedRefused("bound to port 80, below ip_unprivileged_port_start") { $0.editing(4) { $0.setting(7, 80) } }
    }

    /// inet_sk_entry field 14 is sk_opts_entry: 10 so_mark.
    @Test("a forged SO_MARK on the listener (setting one needs cap_net_admin) is refused")
    func markedSocket() throws {
        try expectForgedRefused("marked (SO_MARK needs cap_net_admin)") { $0.editing(4) { $0.editing(14) { $0.setting(10, 7) } } }
    }

    /// file_entry field 22 is pidfd_entry: 4 nspid.
    @Test("a forged pidfd of a process outside the restored tree is refused")
    func pidfdOutsideTree() throws {
        try expectForgedRefused("refers to process 4000, which is not in the tree") { $0.editing(22) { $0.setting(4, 4000) } }
    }

    /// A periodic timerfd that had fired, unread, when the job was dumped:
    /// criu alone restores it disarmed (its remaining time was 0), so the
    /// job's second read blocks for ever. The helper re-arms it in the
    /// private copy, says so in the job's log, and the job counts 50 ticks.
    @Test("a periodic timerfd that had fired unread at the dump keeps ticking after restore")
    func expiredTimer() throws {
        defer { Shell.root("pkill -9 -u \(User.alice.uid)") }
        let dir = User.alice.scratch("timer")
        let work = "\(Self.base)/timer"
        let out = "\(work)/out"
        Shell.root("rm -rf \(work)")
        Shell.user(.alice, "mkdir -p \(work) && cd \(work) && (\(E2E.helper) run --images-dir \(dir) -- \(E2E.bin)/ch-timer 20 50 > \(out) 2>&1 &)")
        try #require(eventually(20) { lines(out).contains("expired") }, "the timer fired: \(lines(out))")
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        try #require(dump.status == 0, "\(dump)")
        try #require(eventually { Shell.root("pgrep -u \(User.alice.uid) -x ch-timer").stdout.isEmpty }, "the dumped job ended")
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        try #require(restore.status == 0, "\(restore)")
        #expect(lines("\(dir)/criu-helper.log").contains { $0.contains("had fired unread at the dump: armed to fire at once") },
                "the job's log says what was changed: \(lines("\(dir)/criu-helper.log").suffix(4))")
        Shell.user(.alice, "touch \(work)/go")
        #expect(eventually(60) { lines(out).contains("done 50") }, "50 ticks counted after restore: \(lines(out).suffix(3))")
    }
}
