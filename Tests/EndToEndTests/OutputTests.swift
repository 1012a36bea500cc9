import Foundation
import Testing

/// Exactly-once output on resume, and a restored job checkpointed
/// periodically (`restore --wait --checkpoint-every`).
@Suite("output written once across a resume", .serialized, .enabled(if: E2E.enabled))
struct OutputTests {
    /// Every line of `path` is the next number from 0, each once.
    func oneCount(_ path: String) -> Bool {
        let numbers = lines(path).compactMap { Int($0) }
        return !numbers.isEmpty && numbers == Array(0..<numbers.count)
    }

    /// A job that counts to its stdout (reopened O_APPEND by `run`) and to a
    /// file of its own opened without O_APPEND; dumped, left to count on, then
    /// killed without warning (the crash the checkpoint was for).
    func crashedAfterCheckpoint(_ name: String) throws -> (dir: String, out: String, file: String) {
        let file = "\(User.alice.home)/e2e/\(name).file"
        Shell.root("rm -f \(file)")
        let command = "sh -c 'i=0; exec 3>\(file); while :; do echo $i; echo $i >&3; i=$((i + 1)); sleep 0.05; done'"
        let (dir, out) = try #require(startCountingJob(name, command: command))
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir) --leave-running")
        try #require(dump.status == 0, "\(dump)")
        let at = counter(out)
        #expect(eventually { counter(out) > at + 20 }, "it writes on after the checkpoint")
        let job = try #require(recordedJob(dir))
        Shell.root("kill -9 \(job.reaper)")
        #expect(eventually { Shell.root("kill -0 \(job.root)").status != 0 })
        return (dir, out, file)
    }

    @Test("a job resumed from a checkpoint older than its last run writes every line once, in both kinds of file, and says what was lost")
    func exactlyOnce() throws {
        let (dir, out, file) = try crashedAfterCheckpoint("once")
        defer { Shell.root("pkill -9 -u \(User.alice.uid)") }
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(restore.status == 0, "\(restore)")
        #expect(restore.stderr.contains("criu-helper: resuming g000001, checkpointed "), "\(restore)")
        #expect(restore.stderr.contains("; the previous run went on for "), "\(restore)")
        #expect(restore.stderr.contains("were cut from 2 files, so that they are written once"), "\(restore)")
        let resumed = counter(out)
        #expect(eventually { counter(out) > resumed + 20 }, "the restored job counts on")
        Shell.root("pkill -9 -u \(User.alice.uid) -x sh")
        #expect(oneCount(out), "stdout (O_APPEND): \(lines(out).suffix(40))")
        #expect(oneCount(file), "its own file (no O_APPEND, size checked by criu): \(lines(file).suffix(40))")
        let log = (try? String(contentsOfFile: "\(dir)/criu-helper.log", encoding: .utf8)) ?? ""
        #expect(log.contains("cut \(out) from ") && log.contains("cut \(file) from "), "each cut file logged: \(log)")
    }

    @Test("a restore that fails after the output was cut puts back what it cut: the files are as they were, byte for byte")
    func failedRestorePutsBack() throws {
        let (dir, out, file) = try crashedAfterCheckpoint("putback")
        defer { Probe.setMode("ok"); Shell.root("pkill -9 -u \(User.alice.uid)") }
        let before = (try? Data(contentsOf: URL(fileURLWithPath: out))) ?? Data()
        let beforeFile = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
        // The probe installation: the same checks and cut, then a criu that fails.
        Probe.setMode("fail")
        let failed = Shell.user(.alice, "\(E2E.probeHelper) restore --images-dir \(dir)")
        #expect(failed.status != 0, "\(failed)")
        #expect(failed.stderr.split(separator: "\n").count == 1, "one line, the failure's (what was lost is said once restored): \(failed)")
        #expect((try? Data(contentsOf: URL(fileURLWithPath: out))) == before, "stdout is as it was")
        #expect((try? Data(contentsOf: URL(fileURLWithPath: file))) == beforeFile, "the job's own file is as it was")
        let log = (try? String(contentsOfFile: "\(dir)/criu-helper.log", encoding: .utf8)) ?? ""
        #expect(log.contains("were cut from 2 files"), "the output was cut first: \(log)")
        #expect(log.contains("put back what was cut from 2 of 2 files"), "\(log)")
        // The real restore then cuts again and resumes: still one count.
        Probe.setMode("ok")
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(restore.status == 0, "\(restore)")
        let resumed = counter(out)
        #expect(eventually { counter(out) > resumed + 10 })
        Shell.root("pkill -9 -u \(User.alice.uid) -x sh")
        #expect(oneCount(out), "\(lines(out).suffix(40))")
    }

    @Test("red team 9: output in a directory another user owns is not cut on resume (they could have put another of the caller's files at its name), and the file found there is left whole")
    func outputInAnotherUsersDirectory() throws {
        let drop = "/tmp/e2e-drop-\(getpid())"
        Shell.root("rm -rf \(drop) && mkdir \(drop) && chown \(User.bob.name): \(drop) && chmod 0777 \(drop)")
        defer { Shell.root("pkill -9 -u \(User.alice.uid); rm -rf \(drop)") }
        let (a, b) = ("\(drop)/a.log", "\(drop)/b.log")
        Shell.user(.alice, "seq 1 500 > \(b)")
        let command = "sh -c 'i=0; exec 3>>\(a); while :; do echo $i; echo $i >&3; i=$((i + 1)); sleep 0.05; done'"
        let (dir, out) = try #require(startCountingJob("drop", command: command))
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir) --leave-running")
        try #require(dump.status == 0, "\(dump)")
        let at = counter(out)
        #expect(eventually { counter(out) > at + 20 }, "it writes on after the checkpoint")
        let job = try #require(recordedJob(dir))
        Shell.root("kill -9 \(job.reaper)")
        #expect(eventually { Shell.root("kill -0 \(job.root)").status != 0 })
        // Bob, who owns the directory, puts alice's other file at the name.
        let swap = Shell.user(.bob, "mv \(a) \(drop)/a.old && mv \(b) \(a)")
        try #require(swap.status == 0, "\(swap)")
        let before = try Data(contentsOf: URL(fileURLWithPath: a))
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(restore.status == 0, "\(restore)")
        let after = (try? Data(contentsOf: URL(fileURLWithPath: a))) ?? Data()
        #expect(after.prefix(before.count) == before, "the file at the name was not cut: \(before.count) bytes before, \(after.count) after")
        let log = (try? String(contentsOfFile: "\(dir)/criu-helper.log", encoding: .utf8)) ?? ""
        #expect(log.contains("left \(a) as it is: in '\(drop)', which belongs to uid \(User.bob.uid): another user could have put another file at its name"), "\(log)")
    }

    @Test("after a checkpoint that ended the job, what others wrote to its output since is kept")
    func endedAtCheckpoint() throws {
        let (dir, out) = try #require(startCountingJob("ended"))
        defer { Shell.root("pkill -9 -u \(User.alice.uid)") }
        #expect(Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)").status == 0)
        Shell.user(.alice, "echo 'a wrapper says: checkpoint written' >> \(out)")
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(restore.status == 0, "\(restore)")
        #expect(restore.stderr.contains("; the job stopped at that checkpoint, nothing was lost"), "\(restore)")
        #expect(lines(out).contains("a wrapper says: checkpoint written"), "\(lines(out).suffix(5))")
        // Restored once, the generation is one the job ran on after: a second
        // resume of it cuts what that run wrote.
        let resumed = counter(out)
        #expect(eventually { counter(out) > resumed + 2 })
        Shell.root("pkill -9 -u \(User.alice.uid) -x ch-count")
        let again = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(again.stderr.contains("were cut from 1 file, so that they are written once"), "\(again)")
    }

    @Test("restore --keep-output leaves the files as they are (the lines after the checkpoint are written again)")
    func keepOutput() throws {
        let (dir, out, _) = try crashedAfterCheckpoint("keep")
        defer { Shell.root("pkill -9 -u \(User.alice.uid)") }
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir) --keep-output")
        // The file without O_APPEND is longer than criu recorded: criu itself refuses it.
        #expect(restore.status == 1, "\(restore)")
        #expect(restore.stderr.split(separator: "\n").count == 1, "one line, criu's failure: \(restore)")
        let log = (try? String(contentsOfFile: "\(dir)/criu-helper.log", encoding: .utf8)) ?? ""
        #expect(log.contains("2 files left as they were (see criu-helper.log)"), "\(log)")
        #expect(log.contains("left \(out) as it is: --keep-output"), "\(log)")
    }

    @Test("restore --wait --checkpoint-every keeps checkpointing the restored job")
    func restoredJobPeriodic() throws {
        let (dir, out) = try #require(startCountingJob("periodic-restore"))
        defer { Shell.root("pkill -9 -u \(User.alice.uid)") }
        #expect(Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)").status == 0)
        Shell.user(.alice, "(\(E2E.helper) restore --images-dir \(dir) --wait --checkpoint-every 1 --keep 3 >/dev/null 2>\(out).helper &)")
        #expect(eventually(30) { Shell.root("ls \(dir) | grep -c '^g0'").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "3" },
                "periodic generations, three kept: \(Shell.root("ls \(dir)").stdout)")
        let helperLines = lines("\(out).helper")
        #expect(helperLines.contains { $0.hasPrefix("criu-helper: dumped 1 task (1 thread) into ") && $0.contains(", frozen ") }, "\(helperLines)")
        let before = counter(out)
        #expect(eventually { counter(out) > before }, "the job runs on between checkpoints")
        #expect(Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir) --checkpoint-every 5").status == 64, "--checkpoint-every needs --wait")
    }
}
