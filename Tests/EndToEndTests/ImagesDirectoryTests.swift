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
}
