import Foundation
import Testing

/// Defence 4: the caller must own every task and thread of the tree. Each
/// refusal: exit 77, one line naming the task and the values compared, an
/// audit record, and no images written.
@Suite("process tree check", .serialized, .enabled(if: E2E.enabled))
struct TreeCheckTests {
    /// Runs alice's dump of `pid`, expects a refusal whose message contains `text`.
    func expectRefusal(_ pid: Int32, _ text: String, helper: String = E2E.helper,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        let dir = User.alice.scratch("tree")
        let audit = AuditLog.mark()
        let run = Shell.user(.alice, "\(helper) dump --pid \(pid) --images-dir \(dir)")
        #expect(run.status == 77, "\(run)", sourceLocation: sourceLocation)
        #expect(run.message.hasPrefix("criu-helper: refused: "), sourceLocation: sourceLocation)
        #expect(run.message.contains(text), "\(run.message)", sourceLocation: sourceLocation)
        #expect(run.stderr.split(separator: "\n").count == 1, sourceLocation: sourceLocation)
        let records = audit.records(containing: dir)
        #expect(records.contains { $0.contains("op=dump") && $0.contains("decision=refused") && $0.contains("res=failed") },
                "\(records)", sourceLocation: sourceLocation)
        let generations = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.filter { $0.hasPrefix("g") } ?? []
        #expect(generations.isEmpty, sourceLocation: sourceLocation)
    }

    func status(_ task: String) -> String { (try? String(contentsOfFile: "/proc/\(task)/status", encoding: .utf8)) ?? "" }

    /// The owner of a /proc file (root's, not the task's, when the task is not dumpable).
    func owner(_ path: String) -> uid_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_uid : nil
    }

    /// A child of `pid`'s whose effective uid is 0: the set-user-ID root program has been exec'd.
    func hasRootChild(_ pid: Int32) -> Bool { !Shell.root("pgrep -u 0 -P \(pid)").stdout.isEmpty }

    @Test("a process of root's is refused")
    func rootOwned() throws {
        let job = try #require(Job.start(User("root"), "sleep 600", output: "/tmp/ch-root-job.out"))
        defer { job.kill() }
        expectRefusal(job.pid, "task \(job.pid) has uid 0, not the caller's \(User.alice.uid)")
    }

    @Test("another user's process is refused")
    func otherUser() throws {
        let job = try #require(Job.start(.bob, "sleep 600", output: "\(User.bob.home)/sleep.out"))
        defer { job.kill() }
        expectRefusal(job.pid, "task \(job.pid) has uid \(User.bob.uid), not the caller's \(User.alice.uid)")
    }

    @Test("a tree with a set-user-ID root child is refused")
    func setuidChild() throws {
        // Without no_new_privs (so that the set-user-ID bit works); the probe
        // installation's policy is relaxed for this one test.
        Shell.root("sed -i 's/^require-no-new-privs.*/require-no-new-privs = no/' /opt/criu-helper-probe/etc/criu-helper.conf")
        defer { Shell.root("sed -i 's/^require-no-new-privs.*/require-no-new-privs = yes/' /opt/criu-helper-probe/etc/criu-helper.conf") }
        let job = try #require(Job.start(.alice, "sh -c '\(E2E.bin)/ch-setuid-sleeper & exec sleep 600'", output: "\(User.alice.home)/suid.out", noNewPrivs: false))
        defer { job.kill(); Shell.root("pkill -9 -f ch-setuid-sleeper") }
        try #require(eventually(20) { hasRootChild(job.pid) }, "the set-user-ID child runs as root")
        expectRefusal(job.pid, "uid 0, not the caller's", helper: E2E.probeHelper)
    }

    @Test("a thread with other credentials is refused")
    func threadWithOtherCredentials() throws {
        let job = try #require(Job.start(User("root"), "\(E2E.bin)/ch-threads \(User.alice.uid)", output: "/tmp/ch-threads.out"))
        defer { job.kill() }
        // Two threads: the main one alice's and dumpable again (its /proc/PID/fd
        // hers), the other root's.
        try #require(eventually(20) {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(job.pid)/task")) ?? []
            return tasks.count == 2 && owner("/proc/\(job.pid)/fd") == User.alice.uid
                && tasks.contains { status("\(job.pid)/task/\($0)").contains("Uid:\t0\t0\t0\t0\n") }
        }, "the threads have their credentials")
        expectRefusal(job.pid, "(thread ")
    }

    @Test("a non-dumpable task is refused")
    func nonDumpable() throws {
        let job = try #require(Job.start(.alice, "\(E2E.bin)/ch-nodump", output: "\(User.alice.home)/nodump.out"))
        defer { job.kill() }
        try #require(eventually(20) { owner("/proc/\(job.pid)/fd") == 0 }, "the task has made itself non-dumpable")
        expectRefusal(job.pid, "task \(job.pid) is not dumpable")
    }

    @Test("a task holding capabilities is refused")
    func withCapabilities() throws {
        let job = try #require(Job.start(User("root"), "\(E2E.bin)/ch-launch --user \(User.alice.uid):\(User.alice.uid) --caps 40 --nnp -- sleep 600", output: "/tmp/ch-caps.out"))
        defer { job.kill() }
        // ch-launch has become alice's and exec'd sleep with the capabilities.
        try #require(eventually(20) { status("\(job.pid)").contains("Name:\tsleep\n") && status("\(job.pid)").contains("Uid:\t\(User.alice.uid)\t") },
                     "sleep runs as alice")
        let pid = Int32(Shell.root("pgrep -u \(User.alice.uid) -x sleep -n").stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? job.pid
        expectRefusal(pid, "holds capabilities (Cap")
    }

    @Test("a task without no_new_privs is refused while policy requires it")
    func withoutNoNewPrivs() throws {
        let job = try #require(Job.start(.alice, "sleep 600", output: "\(User.alice.home)/nnp.out", noNewPrivs: false))
        defer { job.kill() }
        expectRefusal(job.pid, "does not have no_new_privs set")
    }

    @Test("a task in another user namespace is refused")
    func otherUserNamespace() throws {
        let job = try #require(Job.start(.alice, "unshare --user --map-root-user sleep 600", output: "\(User.alice.home)/userns.out"))
        defer { job.kill() }
        // unshare has made the namespace and exec'd sleep.
        try #require(eventually(20) { status("\(job.pid)").contains("Name:\tsleep\n") }, "sleep runs in its user namespace")
        let pid = Int32(Shell.root("pgrep -u \(User.alice.uid) -x sleep -n").stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? job.pid
        expectRefusal(pid, "capabilities")
    }

    @Test("a task in a PID namespace criu-helper did not create is refused")
    func foreignPIDNamespace() throws {
        let job = try #require(Job.start(User("root"), "unshare --pid --fork --mount-proc setpriv --reuid=\(User.alice.name) --regid=\(User.alice.name) --init-groups --no-new-privs sh -c 'sleep 600 & wait'", output: "/tmp/ch-pidns.out"))
        defer { job.kill(); Shell.root("pkill -9 -u \(User.alice.uid) -x sleep") }
        // alice's sleep, in the new PID namespace (its NSpid has two PIDs).
        try #require(eventually(20) {
            let newest = Shell.root("pgrep -u \(User.alice.uid) -x sleep -n").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            return !newest.isEmpty && status(newest).split(separator: "\n").first { $0.hasPrefix("NSpid:") }?.split(separator: "\t").count == 3
        }, "sleep runs in the new PID namespace")
        let pid = Int32(Shell.root("pgrep -u \(User.alice.uid) -x sleep -n").stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        expectRefusal(pid, "PID namespace")
    }

    @Test("pid 1, a kernel thread, and the helper's own ancestors are refused")
    func specialProcesses() {
        expectRefusal(1, "pid 1 cannot be checkpointed")
        expectRefusal(2, "2 is a kernel thread")
        let dir = User.alice.scratch("self")
        let run = Shell.user(.alice, "\(E2E.helper) dump --pid $$ --images-dir \(dir)")
        #expect(run.status == 77)
        #expect(run.message.contains("the tree contains criu-helper itself or one of its ancestors"), "\(run)")
    }

    /// criu run as the helper runs it — alice's uid, exactly
    /// cap_checkpoint_restore as ambient capability, no_new_privs — but
    /// without the helper's tree check in front of it.
    func bareCriuDump(_ pid: Int32) -> (Run, String, String) {
        let dir = User.alice.scratch("bare")
        Shell.root("mkdir -p \(dir) && chown \(User.alice.name): \(dir) && chmod 700 \(dir)")
        let criu = Shell.root("sed -n 's/^criu *= *//p' \(E2E.configuration)").stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let run = Shell.root("\(E2E.bin)/ch-launch --user \(User.alice.uid):\(User.alice.uid) --caps 40 --nnp -- \(criu) dump --no-default-config --unprivileged -t \(pid) -D \(dir) -o dump.log --shell-job --leave-running")
        let pages = Shell.root("ls \(dir) | grep -c '^pages-' || true").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return (run, pages, (try? String(contentsOfFile: "\(dir)/dump.log", encoding: .utf8)) ?? "")
    }

    @Test("behind the tree check, the kernel refuses criu (with what the helper grants it) a task that is not the caller's: a PID reused or a set-user-ID exec after the check cannot leak memory")
    func kernelRefusesSeize() throws {
        // The helper never hands criu cap_sys_ptrace (HygieneTests checks
        // criu's sets); this checks what that leaves criu able to do.
        let rootJob = try #require(Job.start(User("root"), "sleep 600", output: "/tmp/ch-root-bare.out"))
        defer { rootJob.kill() }
        // The kernel's own refusal: PTRACE_SEIZE / PTRACE_INTERRUPT fail
        // with EPERM (with cap_sys_ptrace criu would get past them).
        let refusedSeize = { (log: String) in
            log.contains("Unable to interrupt task") && log.contains("(Operation not permitted)") || log.contains("Unable to seize")
        }
        let (run, pages, log) = bareCriuDump(rootJob.pid)
        #expect(run.status != 0, "criu dumped a task of root's: \(run)")
        #expect(refusedSeize(log), "\(log)")
        #expect(pages == "0", "no memory of root's task was written")
        // A set-user-ID program run by alice's own tree (no no_new_privs).
        let job = try #require(Job.start(.alice, "sh -c '\(E2E.bin)/ch-setuid-sleeper & exec sleep 600'", output: "\(User.alice.home)/suid-bare.out", noNewPrivs: false))
        defer { job.kill(); Shell.root("pkill -9 -f ch-setuid-sleeper") }
        try #require(eventually(20) { hasRootChild(job.pid) }, "the set-user-ID child runs as root")
        let (suid, suidPages, suidLog) = bareCriuDump(job.pid)
        #expect(suid.status != 0, "criu dumped a tree with a set-user-ID task: \(suid)")
        #expect(refusedSeize(suidLog), "\(suidLog)")
        #expect(suidPages == "0")
        // The control: the same criu, same grant, dumps alice's own job.
        let own = try #require(Job.start(.alice, "sleep 600", output: "\(User.alice.home)/own-bare.out"))
        defer { own.kill() }
        let (ok, okPages, _) = bareCriuDump(own.pid)
        #expect(ok.status == 0, "\(ok)")
        #expect(okPages != "0")
    }

    @Test("a process that does not exist is refused")
    func noSuchProcess() {
        // Not a fixed number: with pid_max 32768 on a busy machine PIDs wrap
        // within minutes, and 32000 was once a kernel thread. A gap just
        // below the last PID handed out stays free until the counter has
        // gone all the way round.
        let last = Int32(((try? String(contentsOfFile: "/proc/sys/kernel/ns_last_pid", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 32000
        let free = stride(from: last - 1, to: Int32(300), by: -1).first { !FileManager.default.fileExists(atPath: "/proc/\($0)") } ?? 32000
        expectRefusal(free, "no process \(free)")
    }
}
