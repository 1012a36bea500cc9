import CriuImages
import Foundation
import ImageForging
import Testing

/// Terminals and /proc files of the job's own tasks (issue 9): each restored
/// for real, then its hostile variant, forged into the same generation,
/// refused before criu starts.
@Suite("the job's terminals and /proc files", .serialized, .enabled(if: E2E.enabled))
struct TerminalAndProcFileTests {
    static let base = "\(User.alice.home)/e2e/own"

    /// `program STEPS` of alice's under `run`, dumped once it has made 5
    /// steps (the dump ends it). The images directory, output and generation.
    static func dumpedJob(_ name: String, _ program: String, steps: Int = 60) throws -> (dir: String, out: String, generation: String) {
        let dir = User.alice.scratch(name)
        let out = "\(base)/\(name).out"
        Shell.root("rm -f \(out)")
        Shell.user(.alice, "mkdir -p \(base) && cd \(base) && (\(E2E.helper) run --images-dir \(dir) -- \(E2E.bin)/\(program) \(steps) > \(out) 2>&1 &)")
        try #require(eventually(30) { lines(out).contains("step 5") }, "the job started: \(lines(out))")
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        try #require(dump.status == 0, "\(dump)")
        try #require(eventually { Shell.root("pgrep -u \(User.alice.uid) -x \(program)").stdout.isEmpty }, "the dumped job ended")
        let generation = Shell.root("ls -d \(dir)/g0* | tail -1").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return (dir, out, generation)
    }

    /// Restores the generation and expects every step after the dump, none
    /// twice, and no failure.
    static func expectRestoredToTheEnd(_ dir: String, _ out: String, steps: Int = 60, sourceLocation: SourceLocation = #_sourceLocation) {
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(restore.status == 0, "\(restore)", sourceLocation: sourceLocation)
        #expect(eventually(60) { lines(out).contains("done \(steps)") || lines(out).contains { $0.hasPrefix("FAIL") } },
                "the restored job finished: \(lines(out).suffix(4))", sourceLocation: sourceLocation)
        let done = lines(out)
        #expect(!done.contains { $0.hasPrefix("FAIL") }, "\(done.suffix(4))", sourceLocation: sourceLocation)
        let numbers = done.compactMap { $0.hasPrefix("step ") ? Int($0.dropFirst(5)) : nil }
        #expect(numbers == Array(1...steps), "every step once, in order: \(numbers)", sourceLocation: sourceLocation)
    }

    /// A copy of `generation` with `forge` applied, restored as alice: the
    /// refusal `text` (77, one line), audited, nothing of alice's started.
    static func expectForgedRefused(_ generation: String, _ text: String, sourceLocation: SourceLocation = #_sourceLocation,
                                    _ forge: (ImageForge) -> Void) {
        let dir = User.alice.scratch("own-forged")
        Shell.root("mkdir -p \(dir) && cp -a \(generation) \(dir)/g000001 && rm -f \(dir)/g000001/*.log")
        forge(ImageForge(directory: "\(dir)/g000001"))
        Shell.root("chown -R \(User.alice.name): \(dir) && chmod 700 \(dir)")
        let before = Set(Shell.root("pgrep -u \(User.alice.uid)").stdout.split(separator: "\n"))
        let audit = AuditLog.mark()
        let run = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(run.status == 77, "\(run)", sourceLocation: sourceLocation)
        #expect(run.message.hasPrefix("criu-helper: refused: ") && run.message.contains(text), "\(run.message)", sourceLocation: sourceLocation)
        #expect(run.stderr.split(separator: "\n").count == 1, "one line: \(run.stderr)", sourceLocation: sourceLocation)
        let started = Set(Shell.root("pgrep -u \(User.alice.uid)").stdout.split(separator: "\n")).subtracting(before)
        #expect(started.isEmpty, "a process was started: \(started)", sourceLocation: sourceLocation)
        #expect(audit.records(containing: dir).contains { $0.contains("op=restore") && $0.contains("res=failed") }, sourceLocation: sourceLocation)
    }

    /// Rewrites the reg_file_entry whose path is `path` (file_entry field 3, name 6; flags 2).
    static func editPath(_ forge: ImageForge, _ path: String, to newPath: String? = nil, flags: UInt64? = nil) {
        forge.rewrite("files.img") { entries in
            entries.map { entry in
                guard let reg = try? entry.message(3, "reg"), (try? reg.string(6, "name")) == path else { return entry }
                return entry.editing(3) { reg in
                    var edited = reg
                    if let newPath { edited = edited.removing(6).adding(6, .bytes(ArraySlice(newPath.utf8))) }
                    if let flags { edited = edited.setting(2, flags) }
                    return edited
                }
            }
        }
    }

    // MARK: Terminals

    @Test("a pseudo-terminal the job opened (the slave its controlling terminal, and /dev/tty) carries data both ways after restore")
    func terminalRestored() throws {
        defer { Shell.root("pkill -9 -u \(User.alice.uid)") }
        let (dir, out, _) = try Self.dumpedJob("pty", "ch-pty")
        Self.expectRestoredToTheEnd(dir, out)
    }

    @Test("terminals forged into the job's generation: another terminal's slave, a console, a session or owner outside the job")
    func forgedTerminals() throws {
        defer { Shell.root("pkill -9 -u \(User.alice.uid)") }
        let (_, out, generation) = try Self.dumpedJob("pty-forged", "ch-pty")
        let slave = try #require(lines(out).first { $0.hasPrefix("pty /dev/pts/") }.map { String($0.dropFirst(4)) })
        let index = try #require(PathPolicy.terminalIndex(slave))
        // The slave's path entry names the next terminal (someone else's, say).
        Self.expectForgedRefused(generation, "is \"/dev/pts/\(index + 1)\", but its terminal") { Self.editPath($0, slave, to: "/dev/pts/\(index + 1)") }
        // tty_info_entry: type 2, rdev 8 (console: 5:1); sid 6; uid 14.
        func editInfo(_ forge: ImageForge, _ transform: @escaping (ProtobufMessage) -> ProtobufMessage) {
            forge.rewrite("tty-info.img") { $0.map { ($0.fields.first { $0.number == 12 } != nil) ? transform($0) : $0 } }
        }
        Self.expectForgedRefused(generation, "is the system console, which criu-helper does not restore") { editInfo($0) { $0.setting(2, 2).setting(8, 5 << 8 | 1) } }
        Self.expectForgedRefused(generation, "is the controlling terminal of session 1, which is not the job's") { editInfo($0) { $0.setting(6, 1) } }
        Self.expectForgedRefused(generation, "has owner uid \(User.bob.uid)") { editInfo($0) { $0.setting(14, UInt64(User.bob.uid)) } }
    }

    // MARK: /proc files

    @Test("/proc files of the job's own tasks (its own stat, its child's status) are the restored tasks' after restore")
    func procFilesRestored() throws {
        defer { Shell.root("pkill -9 -u \(User.alice.uid)") }
        let (dir, out, _) = try Self.dumpedJob("procfile", "ch-procfile")
        Self.expectRestoredToTheEnd(dir, out)
    }

    @Test("/proc files forged into the job's generation: another process's, under /proc/sys, mem, opened for writing, non-canonical")
    func forgedProcFiles() throws {
        defer { Shell.root("pkill -9 -u \(User.alice.uid)") }
        let (_, _, generation) = try Self.dumpedJob("procfile-forged", "ch-procfile")
        let forge = ImageForge(directory: generation)
        let names = forge.entries("files.img").entries.compactMap { entry -> String? in
            guard let reg = try? entry.message(3, "reg"), let name = try? reg.string(6, "name") else { return nil }
            return name.hasPrefix("/proc/") && name.hasSuffix("/stat") ? name : nil
        }
        let own = try #require(names.first, "the job's /proc/PID/stat is in files.img")
        let pid = own.dropFirst(6).prefix { $0 != "/" }
        // PID 1 of the job's namespace is the helper's reaper, not the job's.
        Self.expectForgedRefused(generation, "\"/proc/1/stat\", in /proc of a process that is not the job's") { Self.editPath($0, own, to: "/proc/1/stat") }
        Self.expectForgedRefused(generation, "not a file of a process a job may keep open: \"/proc/sys/kernel/core_pattern\"") {
            Self.editPath($0, own, to: "/proc/sys/kernel/core_pattern")
        }
        Self.expectForgedRefused(generation, "not a file of a process a job may keep open: \"/proc/\(pid)/mem\"") { Self.editPath($0, own, to: "/proc/\(pid)/mem") }
        Self.expectForgedRefused(generation, "is opened for writing") { Self.editPath($0, own, flags: 0o2) }
        Self.expectForgedRefused(generation, "not canonical (an empty component)") { Self.editPath($0, own, to: "/proc//\(pid)/stat") }
        Self.expectForgedRefused(generation, "not canonical (an empty component)") { Self.editPath($0, own, to: "//proc/\(pid)/stat") }
    }
}
