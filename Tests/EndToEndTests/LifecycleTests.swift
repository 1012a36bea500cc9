import Foundation
import ImageForging
import Testing

/// Real checkpoints and restores with real criu, as alice: what the kernel
/// shows afterwards, the job lifecycle (run, generations, --wait), audit, locks.
@Suite("checkpoint and restore", .serialized, .enabled(if: E2E.enabled))
struct LifecycleTests {
    /// Restored processes of alice's with this command name: outer PIDs.
    func pids(named name: String) -> [Int32] {
        Shell.root("pgrep -u \(User.alice.uid) -x \(name)").stdout.split(separator: "\n").compactMap { Int32($0) }
    }

    func status(_ pid: Int32) -> String { (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? "" }

    @Test("dump --pid then restore: the count goes on; the restored task is alice's, without capabilities, in a new PID namespace")
    func hostJobRoundTrip() throws {
        let dir = User.alice.scratch("round")
        let out = "\(User.alice.home)/e2e/round.out"
        let job = try #require(Job.start(.alice, "\(E2E.bin)/ch-count", output: out))
        #expect(eventually { counter(out) >= 2 })
        let audit = AuditLog.mark()
        let dump = Shell.user(.alice, "\(E2E.helper) dump --pid \(job.pid) --images-dir \(dir)")
        #expect(dump.status == 0, "\(dump)")
        #expect(dump.message.hasPrefix("criu-helper: dumped 1 task (1 thread) into \(dir)/g000001: "))
        #expect(dump.message.contains("written, frozen "))
        #expect(eventually { !FileManager.default.fileExists(atPath: "/proc/\(job.pid)") })
        let stopped = counter(out)
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(restore.status == 0, "\(restore)")
        let outer = try #require(Int32(restore.stdout.split(separator: "\n").last ?? ""))
        defer { Shell.root("kill -9 \(outer)") }
        #expect(eventually { counter(out) > stopped + 1 })
        let lines = lines(out).compactMap(Int.init)
        #expect(lines == Array(0...(lines.last ?? 0)) || lines == Array(0...(lines.last ?? 0)).filter { $0 != stopped + 1 } || Set(lines).count >= lines.count - 1,
                "one count, no restart: \(lines)")
        #expect(lines.first == 0 && lines.filter { $0 == 0 }.count == 1, "no restart from 0")
        let s = status(outer)
        #expect(s.contains("Uid:\t\(User.alice.uid)\t\(User.alice.uid)\t\(User.alice.uid)\t\(User.alice.uid)"))
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] { #expect(s.contains("\(set):\t0000000000000000")) }
        #expect(s.contains("NoNewPrivs:\t1"))
        #expect(s.contains("NSpid:\t\(outer)\t\(job.pid)"), "restored with its old PID inside a new namespace: \(s)")
        let records = audit.records(containing: dir)
        #expect(records.filter { $0.contains("res=success") && $0.contains("decision=allowed") }.count == 2 && records.count == 2,
                "one record per request, its decision: \(records)")
    }

    @Test("restore's output can be captured: $(criu-helper restore ...) returns while the restored job runs on")
    func restoreOutputCaptured() throws {
        defer { Shell.root("pkill -9 -u \(User.alice.uid) -x ch-count") }
        let (dir, _) = try #require(startCountingJob("capture"))
        #expect(Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)").status == 0)
        // The job's namespace init must not keep the helper's stdout (the pipe
        // of $(...)) or stderr open: the shell would wait for the job to end.
        let run = Shell.user(.alice, "pid=$(timeout 20 \(E2E.helper) restore --images-dir \(dir) 2>&1 | tail -n 1); echo \"pid=$pid\"", timeout: 30)
        let pid = Int32(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "pid=", with: ""))
        #expect(pid != nil, "\(run)")
        if let pid { #expect(status(pid).contains("ch-count"), "the restored job runs on") }
    }

    @Test("a restored job is checkpointed and restored again, with and without --wait; its namespace's init keeps no descriptor of the helper's")
    func repeatedCycles() throws {
        defer { Shell.root("pkill -9 -u \(User.alice.uid) -x ch-count") }
        let (dir, out) = try #require(startCountingJob("cycles"))
        var root: Int32 = 0
        for round in 1...3 {
            let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
            #expect(dump.status == 0, "round \(round): \(dump)")
            let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
            #expect(restore.status == 0, "round \(round): \(restore)")
            root = Int32(restore.stdout.split(separator: "\n").last ?? "") ?? 0
            let before = counter(out)
            #expect(eventually { counter(out) > before }, "round \(round): the count goes on")
        }
        // The restored job's reaper (its parent): nothing but /dev/null, no
        // images directory (whose lock refused the next dump), no audit socket.
        let reaper = Shell.root("awk '/^PPid:/ {print $2}' /proc/\(root)/status").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let fds = Shell.root("for f in /proc/\(reaper)/fd/*; do readlink $f; done").stdout.split(separator: "\n")
        #expect(!fds.isEmpty && fds.allSatisfy { $0 == "/dev/null" }, "reaper \(reaper) holds \(fds)")
        // Restored with --wait (what the scheduler wrappers do): the waiting
        // helper must not keep the directory locked against the next dump.
        #expect(Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)").status == 0)
        Shell.user(.alice, "(\(E2E.helper) restore --images-dir \(dir) --wait >/dev/null 2>&1 &)")
        #expect(eventually { !pids(named: "ch-count").isEmpty })
        let waited = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir) --leave-running")
        #expect(waited.status == 0, "a dump while restore --wait waits: \(waited)")
        let numbers = lines(out).compactMap(Int.init)
        #expect(numbers == Array(0...(numbers.last ?? 0)), "one count across four restores: \(numbers)")
    }

    @Test("run -> dump -> restore, while the original job (same PIDs) still runs")
    func restoreWhileOldPIDExists() throws {
        // (The output of an earlier suite's run is removed first, and the
        // job record waited for: a stale count let the dump come before run.)
        let (dir, _) = try #require(startCountingJob("run"))
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir) --leave-running")
        #expect(dump.status == 0, "\(dump)")
        let before = pids(named: "ch-count")
        #expect(before.count == 1)
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(restore.status == 0, "\(restore)")
        defer { Shell.root("pkill -9 -u \(User.alice.uid) -x ch-count") }
        let after = pids(named: "ch-count")
        #expect(after.count == 2, "the original and the restored copy run side by side")
        let inside = after.map { status($0).split(separator: "\n").first { $0.hasPrefix("NSpid:") }?.split(separator: "\t").last ?? "" }
        #expect(Set(inside).count == 1 && inside.first == "301", "both are PID 301 inside their own namespaces: \(inside)")
    }

    @Test("run forwards SIGTERM to the job and exits with its status; 128+signal when killed")
    func runForwardsAndReturnsStatus() {
        let script = "/tmp/e2e-trap.sh"
        try? "trap 'exit 42' TERM\nwhile :; do sleep 0.1; done\n".write(toFile: script, atomically: true, encoding: .utf8)
        Shell.root("chmod 755 \(script)")
        // SIGTERM once the job's trap is set (its loop runs `sleep`) and run waits for it.
        let run = Shell.user(.alice, "\(shellWaits) \(E2E.helper) run -- /bin/sh \(script) & r=$!; wait_until 'pgrep -P \"$(grandchildren $r)\" -x sleep >/dev/null && blocks_term $r'; kill -TERM $r; wait $r; echo status=$?")
        #expect(run.stdout.contains("status=42"), "\(run)")
        let killed = Shell.user(.alice, "\(shellWaits) \(E2E.helper) run -- sleep 600 & r=$!; wait_until 'pgrep -P \"$(children $r)\" -x sleep >/dev/null'; pkill -KILL -u \(User.alice.uid) -x sleep; wait $r; echo status=$?")
        #expect(killed.stdout.contains("status=137"), "\(killed)")
    }

    @Test("restore --wait forwards SIGTERM and exits with the job's status")
    func restoreWaitForwards() {
        let dir = User.alice.scratch("wait")
        let script = "/tmp/e2e-trap2.sh"
        try? "trap 'exit 43' TERM\nwhile :; do sleep 0.1; done\n".write(toFile: script, atomically: true, encoding: .utf8)
        Shell.root("chmod 755 \(script)")
        Shell.user(.alice, "(\(E2E.helper) run --images-dir \(dir) -- /bin/sh \(script) >/dev/null 2>&1 &)")
        // The job is recorded and its shell has set the trap: it runs the loop's `sleep 0.1`.
        #expect(eventually(20) {
            recordedJob(dir).map { !Shell.root("pgrep -u \(User.alice.uid) -P \($0.root) -x sleep").stdout.isEmpty } ?? false
        }, "the job runs its loop")
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        #expect(dump.status == 0, "\(dump)")
        let run = Shell.user(.alice, "\(shellWaits) \(E2E.helper) restore --images-dir \(dir) --wait > \(dir).pid & r=$!; wait_until '[ -s \(dir).pid ] && pgrep -P \"$(grandchildren $r)\" -x sleep >/dev/null && blocks_term $r'; kill -TERM $r; wait $r; echo status=$?")
        #expect(run.stdout.contains("status=43"), "\(run)")
    }

    @Test("dump of a run job without --leave-running succeeds every time, and the job ends only once the checkpoint is kept")
    func dumpEndsRunJob() throws {
        for round in 1...4 {
            let (dir, _) = try #require(startCountingJob("end\(round)"))
            // criu runs inside the job's PID namespace: had it killed the job
            // itself, the namespace's end could kill criu before it is done.
            let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
            #expect(dump.status == 0, "round \(round): \(dump)")
            #expect(eventually { pids(named: "ch-count").isEmpty }, "round \(round): the job is gone")
            let list = Shell.user(.alice, "\(E2E.helper) list --images-dir \(dir)")
            #expect(list.stdout.contains("g000001     good"), "round \(round): \(list)")
            Shell.root("pkill -9 -u \(User.alice.uid) -x ch-count")
        }
    }

    @Test("a job with a zombie child is checkpointed and restored, the zombie as a zombie")
    func zombieChild() throws {
        let dir = User.alice.scratch("zombie")
        // sh forks a child that exits at once, then becomes sleep, which never reaps it.
        Shell.user(.alice, "(\(E2E.helper) run --images-dir \(dir) -- sh -c 'sleep 0 & exec sleep 600' >/dev/null 2>&1 &)")
        defer { Shell.root("pkill -9 -u \(User.alice.uid) -x sleep") }
        #expect(eventually { Shell.root("ps -o stat= -u \(User.alice.uid) -C sleep").stdout.contains("Z") }, "a zombie exists")
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        #expect(dump.status == 0, "\(dump)")
        #expect(dump.message.contains("dumped 2 tasks (1 thread)"), "\(dump.message)")
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(restore.status == 0, "\(restore)")
        let outer = try #require(Int32(restore.stdout.split(separator: "\n").last ?? ""))
        #expect(status(outer).contains("State:\tS"), "the root runs on: \(status(outer))")
        let children = Shell.root("cat /proc/\(outer)/task/\(outer)/children").stdout.split(separator: " ").compactMap { Int32($0) }
        #expect(children.count == 1 && status(children[0]).contains("State:\tZ"), "the zombie is back as a zombie: \(children)")
    }

    @Test("a job whose children come and go (a fork loop) is checkpointed every time")
    func churningChildren() {
        let dir = User.alice.scratch("churn")
        Shell.user(.alice, "(\(E2E.helper) run --images-dir \(dir) -- sh -c 'while :; do /bin/true; done' >/dev/null 2>&1 &)")
        defer { Shell.root("pkill -9 -u \(User.alice.uid) -x sh") }
        #expect(eventually(20) { recordedJob(dir).map { status($0.root).contains("Name:\tsh\n") } ?? false }, "the job runs")
        // Children exit (and turn their /proc files root's) while the tree is checked.
        var failures: [String] = []
        for _ in 1...12 {
            let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir) --leave-running --keep 1")
            if dump.status != 0 { failures.append(dump.message) }
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test("a job started before the helper was upgraded (reinstalled) can still be checkpointed")
    func dumpAfterUpgrade() throws {
        defer { Shell.root("pkill -9 -u \(User.alice.uid) -x ch-count") }
        let (dir, _) = try #require(startCountingJob("upgrade"))
        // What an upgrade does: a new file renamed over the installed one.
        let reinstall = Shell.root(E2E.reinstall)
        #expect(reinstall.status == 0, "\(reinstall)")
        let exe = Shell.root("for p in $(pgrep -u \(User.alice.uid)); do readlink /proc/$p/exe; done").stdout
        #expect(exe.contains("(deleted)"), "the running job's reaper runs the replaced file: \(exe)")
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir) --leave-running")
        #expect(dump.status == 0, "\(dump)")
    }

    @Test("a dump killed with SIGKILL leaves the previous generation restorable")
    func killedDumpKeepsPrevious() throws {
        let (dir, out) = try #require(startCountingJob("killed", command: "\(E2E.bin)/ch-count 300"))
        let first = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir) --leave-running --keep 10")
        #expect(first.status == 0, "\(first)")
        let stateAtFirst = counter(out)
        for delay in ["0.05", "0.3"] {
            Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir) --leave-running --keep 10 & sleep \(delay); kill -KILL $!; wait")
        }
        let list = Shell.user(.alice, "\(E2E.helper) list --images-dir \(dir)")
        #expect(list.stdout.contains("g000001     good"), "\(list)")
        Shell.root("pkill -9 -u \(User.alice.uid) -x ch-count")
        #expect(eventually(20) { pids(named: "ch-count").isEmpty }, "the job is gone")
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir) --generation g000001")
        #expect(restore.status == 0, "\(restore)")
        defer { Shell.root("pkill -9 -u \(User.alice.uid) -x ch-count") }
        #expect(eventually { counter(out) > stateAtFirst })
        // Continues from the first generation's state: the number after the
        // restore follows the one that was current at the first checkpoint.
        let numbers = lines(out).compactMap(Int.init)
        #expect(numbers.contains(stateAtFirst + 1) || numbers.contains(stateAtFirst))
    }

    @Test("no space for a second generation: clear failure, the first one still restores")
    func noSpace() throws {
        let dir = User.alice.scratch("full")
        Shell.root("mkdir -p \(dir) && mount -t tmpfs -o size=180k,mode=0700,uid=\(User.alice.uid),gid=\(User.alice.uid) tmpfs \(dir)")
        defer { Shell.root("cp \(dir)/g000001/restore.log /tmp/e2e-full-restore.log; umount -l \(dir)") }
        let out = "\(User.alice.home)/e2e/full.out"
        let job = try #require(Job.start(.alice, "\(E2E.bin)/ch-count", output: out))
        defer { job.kill() }
        let first = Shell.user(.alice, "\(E2E.helper) dump --pid \(job.pid) --images-dir \(dir) --leave-running")
        #expect(first.status == 0, "\(first)")
        let second = Shell.user(.alice, "\(E2E.helper) dump --pid \(job.pid) --images-dir \(dir) --leave-running")
        #expect(second.status == 1, "\(second)")
        #expect(second.message.hasPrefix("criu-helper: criu dump failed (exit status 1); its log: \(dir)/g000002.failed/dump.log"))
        let list = Shell.user(.alice, "\(E2E.helper) list --images-dir \(dir)")
        #expect(list.stdout.contains("g000001     good") && list.stdout.contains("g000002.failed failed"), "\(list)")
        job.kill()
        #expect(eventually(20) { !FileManager.default.fileExists(atPath: "/proc/\(job.pid)") }, "the job is gone")
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(restore.status == 0, "\(restore)")
        Shell.root("pkill -9 -u \(User.alice.uid) -x ch-count")
    }

    @Test("--keep N keeps the newest N good generations; run --checkpoint-every takes periodic ones")
    func generationsKeptAndPeriodic() {
        let dir = User.alice.scratch("periodic")
        Shell.user(.alice, "(\(E2E.helper) run --images-dir \(dir) --checkpoint-every 1 --keep 2 -- \(E2E.bin)/ch-count > /dev/null 2>&1 &)")
        #expect(eventually(20) { Shell.user(.alice, "\(E2E.helper) list --images-dir \(dir)").stdout.contains("g000004") })
        Shell.root("pkill -9 -u \(User.alice.uid) -x ch-count")
        // The job is gone and run has seen it end: no periodic checkpoint is under way.
        #expect(eventually(20) {
            pids(named: "ch-count").isEmpty && lines("\(dir)/criu-helper.log").contains { $0.contains(" run: job ") && $0.contains(" ended (") }
        }, "the job and its run ended")
        let good = Shell.user(.alice, "\(E2E.helper) list --images-dir \(dir)").stdout.split(separator: "\n").filter { $0.contains(" good ") }
        #expect(good.count == 2, "\(good)")
    }

    @Test("the restored tree lands in the cgroups of the process that restores it")
    func restoresIntoCallersCgroup() throws {
        let dir = User.alice.scratch("cgroup")
        let job = try #require(Job.start(.alice, "\(E2E.bin)/ch-count", output: "\(User.alice.home)/e2e/cg.out"))
        let dump = Shell.user(.alice, "\(E2E.helper) dump --pid \(job.pid) --images-dir \(dir)")
        #expect(dump.status == 0, "\(dump)")
        Shell.root("mkdir -p /sys/fs/cgroup/cpuset/chtest /sys/fs/cgroup/freezer/chtest && echo 0 > /sys/fs/cgroup/cpuset/chtest/cpuset.cpus && echo 0 > /sys/fs/cgroup/cpuset/chtest/cpuset.mems")
        let restore = Shell.root("sh -c 'echo $$ > /sys/fs/cgroup/cpuset/chtest/tasks; echo $$ > /sys/fs/cgroup/freezer/chtest/tasks; exec setpriv --reuid=\(User.alice.name) --regid=\(User.alice.name) --init-groups --reset-env \(E2E.helper) restore --images-dir \(dir)'")
        #expect(restore.status == 0, "\(restore)")
        let outer = try #require(Int32(restore.stdout.split(separator: "\n").last ?? ""))
        defer { Shell.root("\(shellWaits) kill -9 \(outer); wait_until '! grep -qs \"^State:.*[RSDT]\" /proc/\(outer)/status'; rmdir /sys/fs/cgroup/cpuset/chtest /sys/fs/cgroup/freezer/chtest") }
        let cgroups = (try? String(contentsOfFile: "/proc/\(outer)/cgroup", encoding: .utf8)) ?? ""
        #expect(cgroups.contains(":cpuset:/chtest"), "\(cgroups)")
        #expect(cgroups.contains(":freezer:/chtest"), "\(cgroups)")
    }

    @Test("two requests on one images directory do not interleave: the second waits, then is refused")
    func directoryLock() throws {
        let dir = User.alice.scratch("lock")
        Shell.user(.alice, "mkdir -p \(dir)")
        let job = try #require(Job.start(.alice, "\(E2E.bin)/ch-count", output: "\(User.alice.home)/e2e/lock.out"))
        defer { job.kill() }
        let audit = AuditLog.mark()
        // The lock is DIR/lock, a file only the caller may open.
        // flock forks its command once it holds the lock.
        let run = Shell.user(.alice, "\(shellWaits) (umask 077; : > \(dir)/lock); flock \(dir)/lock sleep 6 & f=$!; wait_until 'pgrep -P $f -x sleep >/dev/null'; \(E2E.helper) dump --pid \(job.pid) --images-dir \(dir); echo status=$?")
        #expect(run.stdout.contains("status=77"), "\(run)")
        #expect(run.stderr.contains("criu-helper: refused: another criu-helper request is using images directory '\(dir)' (waited 3 s)"))
        #expect(!audit.records(containing: dir).isEmpty)
    }

    @Test("a dump while another request works on the same tree is refused")
    func treeLock() throws {
        let dir = User.alice.scratch("treelock")
        let job = try #require(Job.start(.alice, "\(E2E.bin)/ch-count", output: "\(User.alice.home)/e2e/tl.out"))
        defer { job.kill() }
        // The tree's lock is flock(2) on /proc/ROOT/fd, which only the caller can open.
        let run = Shell.user(.alice, "\(shellWaits) flock /proc/\(job.pid)/fd sleep 5 & f=$!; wait_until 'pgrep -P $f -x sleep >/dev/null'; \(E2E.helper) dump --pid \(job.pid) --images-dir \(dir); echo status=$?")
        #expect(run.stdout.contains("status=77"), "\(run)")
        #expect(run.stderr.contains("is working on the tree of \(job.pid)"))
    }

    @Test("kernel audit unavailable: the request is refused (69) and nothing is done")
    func auditUnavailable() throws {
        let dir = User.alice.scratch("noaudit")
        let job = try #require(Job.start(.alice, "\(E2E.bin)/ch-count", output: "\(User.alice.home)/e2e/na.out"))
        defer { job.kill() }
        // A seccomp filter (installed by root) makes every sendto fail with
        // EPERM: libaudit then returns 0 without an error.
        let run = Shell.root("\(E2E.bin)/ch-launch --user \(User.alice.uid):\(User.alice.uid) --deny-sendto -- \(E2E.helper) dump --pid \(job.pid) --images-dir \(dir)")
        #expect(run.status == 69, "\(run)")
        #expect(run.message.hasPrefix("criu-helper: unavailable: "))
        #expect(run.message.contains("audit"))
        #expect(Shell.root("ls \(dir) 2>/dev/null | grep '^g0'").stdout.isEmpty)
    }

    @Test("values from the caller are encoded in audit records: no forged fields or records")
    func auditEncoding() throws {
        // Spaces and a quote (a refused request), then a newline as well
        // (not a usable path: a usage error, its arguments recorded): each
        // would let a raw value forge fields or whole records.
        for (evil, code) in [("\(User.alice.home)/e2e/x\" res=success acct=root", Int32(77)),
                             ("\(User.alice.home)/e2e/x\" res=success\ntype=USER_CMD acct=root", 64)] {
            Shell.root("rm -rf '\(evil)'")
            let audit = AuditLog.mark()
            let run = Shell.user(.alice, "\(E2E.helper) dump --pid 1 --images-dir '\(evil)'")
            #expect(run.status == code, "\(run)")
            // auditd writes the record after the kernel took it: on a busy
            // disk, some time after the request has returned.
            #expect(eventually(20) { !audit.records(containing: evil).isEmpty }, "no record")
            let records = audit.records(containing: evil)
            #expect(records.allSatisfy { !$0.contains("acct=root") && !$0.contains("res=success") && $0.contains("res=failed'") }, "\(records)")
        }
        #expect(!lines(AuditLog.path).contains { $0.hasPrefix("type=USER_CMD acct=root") }, "no record line of the caller's making")
    }

    @Test("a restore that leaves a stray task behind is refused, and nothing of it survives")
    func strayTaskKilled() throws {
        let dir = User.alice.scratch("stray")
        let gen = try #require(ForgedImageTests.baseGeneration())
        Shell.root("mkdir -p \(dir) && cp -a \(gen) \(dir)/g000001 && chown -R \(User.alice.name): \(dir) && chmod 700 \(dir)")
        Probe.reset(.alice)
        Probe.setMode("stray")
        defer { Probe.setMode("ok") }
        let run = Shell.user(.alice, "\(E2E.probeHelper) restore --images-dir \(dir)")
        #expect(run.status == 77, "\(run)")
        #expect(run.message.contains("was restored but is not in the images; everything restored was killed"))
        let stray = (try? String(contentsOfFile: "/tmp/criu-probe.stray", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        #expect(!stray.isEmpty)
        #expect(Shell.root("pgrep -u \(User.alice.uid) -f criu-probe").stdout.isEmpty, "nothing left")
    }

    @Test("a restore whose criu fails leaves no task behind")
    func failedRestoreLeavesNothing() throws {
        let dir = User.alice.scratch("failrestore")
        let gen = try #require(ForgedImageTests.baseGeneration())
        Shell.root("mkdir -p \(dir) && cp -a \(gen) \(dir)/g000001 && chown -R \(User.alice.name): \(dir) && chmod 700 \(dir)")
        Probe.reset(.alice)
        Probe.setMode("fail")
        defer { Probe.setMode("ok") }
        let run = Shell.user(.alice, "\(E2E.probeHelper) restore --images-dir \(dir)")
        #expect(run.status == 1, "\(run)")
        #expect(run.message.hasPrefix("criu-helper: criu restore failed (exit status 1); its log: "))
        #expect(Shell.root("pgrep -u \(User.alice.uid) -f criu-probe").stdout.isEmpty)
    }

    @Test("images forged after the dump are caught by the post-dump check and deleted")
    func postDumpCheck() throws {
        let dir = User.alice.scratch("postdump")
        let gen = try #require(ForgedImageTests.baseGeneration())
        let forged = "/tmp/e2e-forged-dump"
        Shell.root("rm -rf \(forged) && cp -a \(gen) \(forged) && chmod -R a+rX \(forged)")
        let r = ImageForge(directory: forged).rootPID
        ImageForge(directory: forged).editCredentials(r) { $0.setting(3, 0) }
        Shell.root("chmod -R a+rX \(forged)")
        let job = try #require(Job.start(.alice, "\(E2E.bin)/ch-count", output: "\(User.alice.home)/e2e/pd.out"))
        defer { job.kill() }
        Probe.reset(.alice)
        Probe.setMode("forge \(forged)")
        defer { Probe.setMode("ok") }
        let audit = AuditLog.mark()
        let run = Shell.user(.alice, "\(E2E.probeHelper) dump --pid \(job.pid) --images-dir \(dir) --leave-running")
        #expect(run.status == 77, "\(run)")
        #expect(run.message.contains("the dumped images could not be restored: image core-"), "\(run)")
        #expect(run.message.contains("has euid 0"))
        #expect(Shell.root("ls \(dir) | grep '^g0'").stdout.isEmpty, "images deleted")
        #expect(audit.records(containing: dir).contains { $0.contains("res=failed") })
    }
}
