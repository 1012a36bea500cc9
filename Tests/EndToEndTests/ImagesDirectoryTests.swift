import Foundation
import Testing

/// Defence 5: the images directory is the caller's, private, reached without
/// symbolic links, and holds nothing but regular files and directories.
@Suite("images directory", .serialized, .enabled(if: E2E.enabled))
struct ImagesDirectoryTests {
    func expectRefusal(_ dir: String, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let job = Job.start(.alice, "\(E2E.bin)/ch-count", output: "\(User.alice.home)/dirs.out") else {
            Issue.record("no job"); return
        }
        defer { job.kill() }
        let audit = AuditLog.mark()
        let run = Shell.user(.alice, "\(E2E.helper) dump --pid \(job.pid) --images-dir \(dir)")
        #expect(run.status == 77, "\(run)", sourceLocation: sourceLocation)
        #expect(run.message.hasPrefix("criu-helper: refused: "), sourceLocation: sourceLocation)
        #expect(run.message.contains(text), "\(run.message)", sourceLocation: sourceLocation)
        #expect(!audit.records(containing: dir).filter { $0.contains("res=failed") }.isEmpty, sourceLocation: sourceLocation)
        #expect(Shell.root("ls -d '\(dir)'/g0* 2>/dev/null").stdout.isEmpty, sourceLocation: sourceLocation)
    }

    @Test("a symbolic link as the directory")
    func symlink() {
        let base = User.alice.scratch("dirs")
        Shell.user(.alice, "mkdir -p \(base)/real && ln -s real \(base)/link")
        expectRefusal("\(base)/link", "is, or goes through, a symbolic link")
    }

    @Test("a symbolic link among its parents")
    func symlinkedParent() {
        let base = User.alice.scratch("dirs")
        Shell.user(.alice, "mkdir -p \(base)/real/sub && ln -s real \(base)/link")
        expectRefusal("\(base)/link/sub", "is, or goes through, a symbolic link")
    }

    @Test("a directory of another user")
    func otherOwner() {
        let base = User.alice.scratch("dirs")
        Shell.root("mkdir -p \(base)/bobs && chown \(User.bob.name): \(base)/bobs && chmod 755 \(base)/bobs")
        expectRefusal("\(base)/bobs", "belongs to uid \(User.bob.uid), not to the caller")
    }

    @Test("a group- or world-writable directory", arguments: ["770", "707", "777"])
    func writableByOthers(_ mode: String) {
        let base = User.alice.scratch("dirs")
        Shell.user(.alice, "mkdir -p \(base)/open && chmod \(mode) \(base)/open")
        expectRefusal("\(base)/open", "is writable by group or others")
    }

    @Test("a symbolic link, FIFO, device or hard link inside",
          arguments: [("ln -s /etc/passwd x", "is a symbolic link"), ("mkfifo x", "is a FIFO"),
                      ("mknod x c 1 3", "is a character device"), ("touch y && ln y x", "is a hard link")])
    func badEntries(_ make: String, _ text: String) {
        let base = User.alice.scratch("dirs")
        Shell.user(.alice, "mkdir -p \(base)/d")
        Shell.root("cd \(base)/d && \(make) && chown -h \(User.alice.name): x")
        expectRefusal("\(base)/d", text)
    }

    /// The technique of the red team of `run --private-network`: the
    /// directory is checked once, then the helper opens files in it by name;
    /// a FIFO exchanged in (renameat2 RENAME_EXCHANGE, in a loop) made an
    /// open wait for a writer — the request, its lock and its permitted
    /// capabilities held until someone opened the FIFO. Every such open is
    /// O_NONBLOCK now; each request here must end on its own.
    @Test("a FIFO swapped, again and again, with a file the helper opens after checking the directory (the generation's network, criu-helper.log, restore.log, job) never holds a request", arguments: ["network", "criu-helper.log", "restore.log", "job"])
    func fifoSwaps(_ target: String) throws {
        defer { Shell.root("pkill -9 -u \(User.alice.uid)") }
        let (dir, _) = try #require(startCountingJob("fifo-swap"))
        let first = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        try #require(first.status == 0, "\(first)")
        let generation = Shell.root("ls -d \(dir)/g0* | tail -1").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let path = switch target {
        case "network", "restore.log": "\(generation)/\(target)"
        default: "\(dir)/\(target)"
        }
        let swap = "\(User.alice.home)/e2e/fifo-swap.py"
        let script = """
            import ctypes, os, sys
            libc = ctypes.CDLL(None, use_errno=True)
            a, b, stop = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3]
            while not os.path.exists(stop):
                libc.syscall(316, -100, a, -100, b, 2)   # renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)
            """
        try script.write(toFile: swap, atomically: true, encoding: .utf8)
        let fifo = "\(User.alice.home)/e2e/fifo-swap.fifo"
        let stop = "\(User.alice.home)/e2e/fifo-swap.stop"
        Shell.root("chown \(User.alice.name): \(swap); rm -f \(fifo) \(stop)")
        Shell.user(.alice, "mkfifo \(fifo) && { [ -e \(path) ] || printf '' > \(path); }")
        if target == "network" { Shell.user(.alice, "printf 'private\\n' > \(path)") }
        Shell.user(.alice, "(python3 \(swap) \(fifo) \(path) \(stop) > /dev/null 2>&1 &)")
        defer { Shell.root("touch \(stop)") }
        for _ in 0..<10 {
            // `job` is read by a dump (the job has ended: it is refused after
            // the read); the rest by a restore, whose job is ended each round.
            let request = target == "job" ? "dump" : "restore"
            let run = Shell.user(.alice, "timeout -s KILL 60 \(E2E.helper) \(request) --images-dir \(dir)", timeout: 90)
            #expect(run.status != 137, "\(request) was held for 60 s and killed: \(run)")
            if target != "job" { Shell.root("pkill -9 -u \(User.alice.uid) -x ch-count") }
        }
    }
}
