import Foundation
import LinuxSystem
import Testing

/// What a criu killed mid-dump leaves in a task (CSystem/leftovers.c), read
/// from a fixture /proc: PID/maps as text, PID/mem a sparse file holding the
/// bytes at the mappings' addresses.
@Suite("what a killed criu leaves in the job")
struct CriuLeftoverTests {
    static let syscall: [UInt8] = [0x0f, 0x05, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc]
    static let int80: [UInt8] = [0xcd, 0x80, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc]
    static let endbr64: [UInt8] = [0xf3, 0x0f, 0x1e, 0xfa, 0x31, 0xed, 0x49, 0x89]

    /// maps lines and, for each address, the 8 bytes stored there.
    /// `threads`: for each thread, its /proc/PID/task/TID/stat state and
    /// its /proc/PID/task/TID/syscall line.
    func find(_ maps: String, _ code: [(UInt64, [UInt8])] = [], threads: [(state: String, syscall: String)] = []) throws -> CriuLeftover? {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("leftover-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let task = root.appendingPathComponent("42")
        try FileManager.default.createDirectory(at: task, withIntermediateDirectories: true)
        try maps.write(to: task.appendingPathComponent("maps"), atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: task.appendingPathComponent("mem").path, contents: nil)
        let mem = try FileHandle(forWritingTo: task.appendingPathComponent("mem"))
        for (address, bytes) in code {
            try mem.seek(toOffset: address)
            try mem.write(contentsOf: Data(bytes))
        }
        try mem.close()
        for (i, thread) in threads.enumerated() {
            let dir = task.appendingPathComponent("task/\(42 + i)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try "\(42 + i) (job) x) \(thread.state) 1 42 42 0 -1 4194560\n".write(to: dir.appendingPathComponent("stat"), atomically: true, encoding: .utf8)
            try thread.syscall.write(to: dir.appendingPathComponent("syscall"), atomically: true, encoding: .utf8)
        }
        let proc = try FileDescriptor.open(root.path, [.directory])
        return CriuLeftover.find(in: 42, proc: proc)
    }

    static let text = """
        00400000-00401000 r--p 00000000 fe:01 1234 /opt/job
        00401000-00402000 r-xp 00001000 fe:01 1234 /opt/job
        00403000-00404000 rw-p 00003000 fe:01 1234 /opt/job

        """

    @Test("nothing: the code at every executable mapping is the program's")
    func clean() throws {
        #expect(try find(Self.text, [(0x401000, Self.endbr64)]) == nil)
        #expect(try find(Self.text) == nil, "zeros")
    }

    @Test("criu's system-call instructions at the start of an executable mapping, 64-bit or 32-bit")
    func instructions() throws {
        #expect(try find(Self.text, [(0x401000, Self.syscall)]) == .systemCallInstructions)
        #expect(try find(Self.text, [(0x401000, Self.int80)]) == .systemCallInstructions)
        // Only executable mappings count, and only their first bytes.
        #expect(try find(Self.text, [(0x400000, Self.syscall), (0x403000, Self.syscall)]) == nil)
        #expect(try find(Self.text, [(0x401008, Self.syscall)]) == nil)
        // A later executable mapping (criu picks the first; the first may be
        // another by the time the helper looks).
        let two = Self.text + "7f000000-7f001000 r-xp 00000000 fe:01 99 /usr/lib/libc.so.6\n"
        #expect(try find(two, [(0x401000, Self.endbr64), (0x7f000000, Self.syscall)]) == .systemCallInstructions)
    }

    @Test("criu's parasite mapped, also after lines longer than one read and without a final newline")
    func parasite() throws {
        #expect(try find(Self.text + "7f100000-7f103000 rwxs 00000000 00:01 77 /memfd:CRIUMFD (deleted)\n") == .parasite)
        let long = "7f200000-7f201000 r--p 00000000 fe:01 5 /" + String(repeating: "d/", count: 6000) + "f\n"
        #expect(try find(Self.text + long + long + "7f100000-7f103000 rwxs 00000000 00:01 77 /memfd:CRIUMFD (deleted)") == .parasite)
        #expect(try find(Self.text + long + long + "7f300000-7f301000 r-xp 00000000 fe:01 6 /x\n", [(0x7f300000, Self.syscall)])
                == .systemCallInstructions)
    }

    @Test("a stopped thread whose instruction pointer is outside every executable mapping (the parasite unmapped itself)")
    func strandedThread() throws {
        let inCode = "0 0x3 0x7ffc1000 0x1000 0x0 0x0 0x0 0x7ffc0f00 0x401234\n"
        let gone = "11 0x7f5000000000 0x9000 0x0 0x0 0x0 0x0 0x7ffc0f00 0x7f5000000a2f\n"
        #expect(try find(Self.text, threads: [("t", gone)]) == .strandedThread)
        #expect(try find(Self.text, threads: [("t", inCode), ("T", gone)]) == .strandedThread, "any thread, ptrace or job-control stop")
        #expect(try find(Self.text, threads: [("t", inCode)]) == nil)
        // Only stopped threads are judged; a running one has no position.
        #expect(try find(Self.text, threads: [("S", gone)]) == nil)
        #expect(try find(Self.text, threads: [("t", "running\n")]) == nil)
        // A position in a later executable mapping (the vDSO, a library) is code.
        let vdso = Self.text + "7f5000000000-7f5000002000 r-xp 00000000 00:00 0 [vdso]\n"
        #expect(try find(vdso, threads: [("t", gone)]) == nil)
        // A real stopped process stands in its code.
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["60"]
        try sleeper.run()
        defer { sleeper.terminate(); kill(sleeper.processIdentifier, SIGCONT) }
        kill(sleeper.processIdentifier, SIGSTOP)
        let deadline = Date().addingTimeInterval(30)
        func stopped() -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(sleeper.processIdentifier)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            return stat[close...].hasPrefix(") T")
        }
        while !stopped() && Date() < deadline { usleep(10_000) }
        try #require(stopped())
        let proc = try FileDescriptor.open("/proc", [.directory])
        #expect(CriuLeftover.find(in: sleeper.processIdentifier, proc: proc) == nil)
        // Malformed lines are nothing.
        #expect(try find(Self.text, threads: [("t", "0 0x3 zz\n"), ("t", "\n")]) == nil)
    }

    @Test("a task that cannot be read is nothing (the caller decides by the task's pin)")
    func unreadable() throws {
        let proc = try FileDescriptor.open("/proc", [.directory])
        #expect(CriuLeftover.find(in: 999_999_999, proc: proc) == nil)
        #expect(CriuLeftover.find(in: getpid(), proc: proc) == nil, "the test runner holds no criu leftovers")
    }
}
