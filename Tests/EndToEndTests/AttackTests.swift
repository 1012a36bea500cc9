import CriuImages
import Foundation
import ImageForging
import Testing

/// The attacks independent red teams made on the installed helper (the
/// threat model's "Found by red teams"), each performed again as an
/// unprivileged user against the real setcap'd helper, real criu and real
/// auditd. Each would succeed without its defence.
@Suite("found by red teams: the attacks, performed", .serialized, .enabled(if: E2E.enabled))
struct AttackTests {
    /// No process of alice's holds a capability, within a few seconds (the
    /// reaper ends a capable orphan within a second).
    func expectNoCapableProcess(_ context: @autoclosure () -> String = "", sourceLocation: SourceLocation = #_sourceLocation) {
        let clean = eventually(10) { capableProcesses(of: .alice).isEmpty }
        #expect(clean, "processes of alice's with capabilities: \(capableProcesses(of: .alice)) \(context())", sourceLocation: sourceLocation)
    }

    func killAll(_ user: User) {
        Shell.root("pkill -9 -u \(user.uid)")
        _ = eventually(20) { Shell.root("pgrep -u \(user.uid)").stdout.isEmpty }
    }

    // MARK: 1. criu runs the caller's code with its capability

    @Test("the job's reaper cannot be ptraced by the caller (it is not dumpable); the job's own tasks can")
    func reaperNotTraceable() throws {
        let (dir, _) = try #require(startCountingJob("ptrace"))
        defer { killAll(.alice) }
        let job = try #require(recordedJob(dir))
        let reaper = Shell.user(.alice, "\(E2E.bin)/ch-ptrace \(job.reaper)")
        #expect(reaper.stdout.hasPrefix("refused: Operation not permitted"), "\(reaper)")
        #expect(Shell.root("stat -c %U /proc/\(job.reaper)/fd").stdout.hasPrefix("root"), "the reaper is not dumpable")
        let root = Shell.user(.alice, "\(E2E.bin)/ch-ptrace \(job.root)")
        #expect(root.stdout.hasPrefix("seized"), "the job itself is alice's to trace: \(root)")
    }

    /// Namespaces made by someone else (root, as a container runtime would),
    /// whose PID 1 looks like criu-helper's reaper (alice's, not dumpable),
    /// with criu's ELF interpreter replaced by a bind mount.
    func foreignNamespaceJob(interpreterPlanted: Bool) throws -> Int32 {
        Shell.root("rm -rf /tmp/e2e-fakelib /tmp/ch-fake-ld.ran; mkdir -p /tmp/e2e-fakelib && cp \(E2E.bin)/ch-fake-ld /tmp/e2e-fakelib/ld-linux-x86-64.so.2 && chmod -R a+rX /tmp/e2e-fakelib")
        let criuLib = "/opt/criu4/usr/lib/x86_64-linux-gnu"
        let plant = interpreterPlanted ? "mount --bind /tmp/e2e-fakelib \(criuLib) && " : ""
        let inner = "\(E2E.bin)/ch-fake-init sh -c 'while :; do sleep 0.2; done'"
        Shell.root("(setsid unshare --pid --fork --mount sh -c \"\(plant)mount -t proc proc /proc && exec setpriv --reuid=\(User.alice.name) --regid=\(User.alice.name) --init-groups --no-new-privs \(inner)\" </dev/null >/dev/null 2>&1 &)")
        let find = "for p in $(pgrep -u \(User.alice.uid) -x sh); do awk -v p=$p '/^NSpid:/ && NF == 3 && $3 != 1 {print p}' /proc/$p/status; done | head -1"
        var job: Int32 = 0
        _ = eventually(10) {
            job = Int32(Shell.root(find).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            return job != 0
        }
        return try #require(job == 0 ? nil : job, "no job in the namespaces: \(Shell.root("ps -ef | grep -v grep | grep -E 'unshare|fake-init|sleep 0.2'").stdout)")
    }

    @Test("criu is never started in a mount namespace criu-helper did not make: a planted ELF interpreter never runs")
    func plantedInterpreter() throws {
        defer { killAll(.alice); Shell.root("pkill -9 -f 'unshare --pid --fork --mount'") }
        let job = try foreignNamespaceJob(interpreterPlanted: true)
        // The attack is real: criu started in that namespace runs the planted interpreter.
        Shell.root("nsenter --target \(job) --mount --pid -- setpriv --reuid=\(User.alice.name) --regid=\(User.alice.name) --init-groups /opt/criu4/usr/sbin/criu --version")
        #expect(FileManager.default.fileExists(atPath: "/tmp/ch-fake-ld.ran"), "the planted interpreter runs for a criu started in there")
        Shell.root("rm -f /tmp/ch-fake-ld.ran")
        let dir = User.alice.scratch("planted")
        let audit = AuditLog.mark()
        let run = Shell.user(.alice, "\(E2E.helper) dump --pid \(job) --images-dir \(dir) --leave-running")
        #expect(run.status == 77, "\(run)")
        #expect(run.message.contains("the mount namespace of task \(job) is not one criu-helper made: /opt/criu4/usr/lib/x86_64-linux-gnu"), "\(run)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/ch-fake-ld.ran"), "criu-helper ran criu in there")
        #expect(audit.records(containing: dir).contains { $0.contains("decision=refused") })
        expectNoCapableProcess()
    }

    @Test("namespaces someone else made are refused even when their mounts match the helper's (PID 1 is root's)")
    func foreignInit() throws {
        defer { killAll(.alice); Shell.root("pkill -9 -f 'unshare --pid --fork'") }
        Shell.root("(setsid unshare --pid --fork --mount-proc setpriv --reuid=\(User.alice.name) --regid=\(User.alice.name) --init-groups --no-new-privs sh -c 'sleep 600 & wait' </dev/null >/dev/null 2>&1 &)")
        var pid: Int32 = 0
        #expect(eventually(10) { pid = Int32(Shell.root("pgrep -u \(User.alice.uid) -x sleep -n").stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0; return pid != 0 })
        let run = Shell.user(.alice, "\(E2E.helper) dump --pid \(pid) --images-dir \(User.alice.scratch("foreign-init"))")
        #expect(run.status == 77, "\(run)")
        #expect(run.message.contains("PID namespace"), "\(run)")
    }

    // MARK: 2. Another user can stall your checkpoints

    @Test("another user squatting every lock name and path they can reach does not delay the caller's dump")
    func squattedLocks() throws {
        let (dir, _) = try #require(startCountingJob("squat"))
        defer { killAll(.alice); killAll(.bob) }
        let job = try #require(recordedJob(dir))
        // A directory others may read and open (0755) is still the caller's.
        Shell.root("chmod 755 \(User.alice.home) \(User.alice.home)/e2e \(dir)")
        let start = Shell.root("awk '{print $22}' /proc/\(job.root)/stat").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // ch-squat reports on every name in turn, /proc/ROOT/fd last, then holds them.
        Shell.root("rm -f /tmp/e2e-squat.out")
        let squat = Shell.user(.bob, "\(shellWaits) (\(E2E.bin)/ch-squat criu-helper/tree/\(job.root)/\(start) \(dir) \(dir)/lock /proc/\(job.root)/fd > /tmp/e2e-squat.out 2>&1 &); wait_until 'grep -q \" /proc/\(job.root)/fd\" /tmp/e2e-squat.out'; cat /tmp/e2e-squat.out")
        #expect(squat.stdout.contains("squatted @criu-helper/tree/"), "\(squat)")
        #expect(squat.stdout.contains("locked \(dir)\n"), "bob holds flock on the directory itself: \(squat)")
        #expect(squat.stdout.contains("cannot open \(dir)/lock") && squat.stdout.contains("cannot open /proc/\(job.root)/fd"), "\(squat)")
        let began = Date()
        let run = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir) --leave-running", timeout: 60)
        #expect(run.status == 0, "\(run)")
        #expect(Date().timeIntervalSince(began) < 30, "the dump was held up for \(Date().timeIntervalSince(began)) s")
    }

    @Test("a lock file others may open is refused with one clear line, nothing done")
    func openLockFile() throws {
        let (dir, _) = try #require(startCountingJob("openlock"))
        defer { killAll(.alice) }
        Shell.user(.alice, "chmod 644 \(dir)/lock")
        let run = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir) --leave-running")
        #expect(run.status == 77, "\(run)")
        #expect(run.message == "criu-helper: refused: '\(dir)/lock' may be opened by others (mode 644); remove it", "\(run)")
        #expect(Shell.root("ls \(dir) | grep '^g0'").stdout.isEmpty)
    }

    // MARK: 3. Image contents choose criu's capabilities

    @Test("an empty tty-info.img and a session outside the tree: criu still gets cap_checkpoint_restore alone")
    func terminalImagesChooseNothing() throws {
        let gen = try #require(ForgedImageTests.baseGeneration())
        let dir = User.alice.scratch("ttyinfo")
        Shell.root("mkdir -p \(dir) && cp -a \(gen) \(dir)/g000001 && rm -f \(dir)/g000001/*.log")
        let forge = ImageForge(directory: "\(dir)/g000001")
        forge.write("tty-info.img", Wire.image(magic: 0x5945_3036, entries: []))
        forge.rewrite("pstree.img") { $0.enumerated().map { $0.offset == 0 ? $0.element.setting(4, 1) : $0.element } }
        Shell.root("chown -R \(User.alice.name): \(dir) && chmod 700 \(dir)")
        Probe.reset(.alice)
        _ = Shell.user(.alice, "\(E2E.probeHelper) restore --images-dir \(dir)")
        let report = Probe.report(for: .alice)
        #expect(report.contains { $0.hasPrefix("argv[") && $0.hasSuffix("=--shell-job") }, "the probe ran as criu with the session outside: \(report)")
        for set in ["CapPrm", "CapEff", "CapAmb"] {
            #expect(report.contains("\(set):\t0000010000000000"), "\(set) must be cap_checkpoint_restore alone: \(report)")
        }
        expectNoCapableProcess()
    }

    @Test("a descriptor criu hands a restored task on procfs is found by what it is, and everything restored is killed")
    func restoredDescriptorOnProcfs() throws {
        let gen = try #require(ForgedImageTests.baseGeneration())
        let dir = User.alice.scratch("fdtask")
        Shell.root("mkdir -p \(dir) && cp -a \(gen) \(dir)/g000001 && rm -f \(dir)/g000001/*.log && chown -R \(User.alice.name): \(dir) && chmod 700 \(dir)")
        let root = ImageForge(directory: "\(dir)/g000001").rootPID
        Probe.reset(.alice)
        Probe.setMode("fdtask \(root) /proc/self/pagemap")
        defer { Probe.setMode("ok") }
        let audit = AuditLog.mark()
        let run = Shell.user(.alice, "\(E2E.probeHelper) restore --images-dir \(dir)")
        #expect(run.status == 77, "\(run)")
        #expect(run.message.contains("restored task \(root) holds descriptor 4 on proc (/proc/\(root)/pagemap)"), "\(run)")
        #expect(run.message.hasSuffix("everything restored was killed"))
        #expect(eventually { Shell.root("pgrep -u \(User.alice.uid) -f criu-probe").stdout.isEmpty })
        #expect(audit.records(containing: dir).contains { $0.contains("decision=undone") }, "the undone restore is on record")
    }

    // MARK: 4. Killing the helper or criu mid-dump

    @Test("what criu leaves behind — a stopped child keeping its capability, another in its own session — is ended with the dump")
    func criuLeftovers() throws {
        defer { Probe.setMode("ok"); killAll(.alice) }
        // In the job's namespaces (a job of `run`) and in the helper's own (--pid).
        let (dir, _) = try #require(startCountingJob("leftover", helper: E2E.probeHelper))
        let hostJob = try #require(Job.start(.alice, "\(E2E.bin)/ch-count", output: "\(User.alice.home)/e2e/leftover-host.out"))
        Probe.reset(.alice)
        Probe.setMode("leftover")
        for request in ["dump --images-dir \(dir) --leave-running", "dump --pid \(hostJob.pid) --images-dir \(dir)-host --leave-running"] {
            let run = Shell.user(.alice, "\(E2E.probeHelper) \(request)")
            #expect(run.status == 77, "no images: the generation does not pass: \(run)")
            expectNoCapableProcess(request)
        }
    }

    /// One random kill of the helper or of criu during `command`, then the
    /// checks: no process of alice's keeps a capability. Returns what ran.
    func killDuring(_ command: String, victim: String, delayMilliseconds: Int) -> Run {
        let kill = victim == "helper" ? "kill -9 $h" : "pkill -9 -u \(User.alice.uid) -x criu"
        return Shell.user(.alice, "\(command) >/dev/null 2>/tmp/e2e-kill.err & h=$!; sleep \(Double(delayMilliseconds) / 1000); \(kill); wait $h; echo status=$?", timeout: 120)
    }

    @Test("killing the helper or criu at any point of a dump, 200 times: no capability survives; the job runs on, or was ended and said so")
    func killedDumps() throws {
        var (dir, out) = try #require(startCountingJob("killdump"))
        defer { killAll(.alice) }
        var lost = 0, good = 0
        for round in 0..<200 {
            let victim = round % 2 == 0 ? "helper" : "criu"
            _ = killDuring("\(E2E.helper) dump --images-dir \(dir) --leave-running", victim: victim, delayMilliseconds: Int.random(in: 0...80))
            expectNoCapableProcess("round \(round), \(victim) killed")
            guard let job = recordedJob(dir), Shell.root("kill -0 \(job.root)").status == 0 else {
                // The job was ended (criu's parasite was still in it): its
                // previous good generation restores.
                lost += 1
                let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
                if restore.status != 0 {
                    Shell.root("rm -rf \(dir) \(out)")
                    (dir, out) = try #require(startCountingJob("killdump"))
                }
                continue
            }
            good += 1
        }
        // Whatever happened, a dump and a restore still work afterwards.
        let last = counter(out)
        #expect(eventually(20) { counter(out) > last }, "the job counts on")
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        #expect(dump.status == 0, "\(dump)")
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(restore.status == 0, "\(restore)")
        let resumed = counter(out)
        #expect(eventually(20) { counter(out) > resumed }, "the restored job counts on")
        Kernel.record("killed dumps: \(good) jobs ran on, \(lost) were ended")
    }

    @Test("killing the helper or criu at any point of a restore, 200 times: no capability survives, nothing half-restored stays, the generation still restores")
    func killedRestores() throws {
        let (dir, out) = try #require(startCountingJob("killrestore"))
        defer { killAll(.alice) }
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        try #require(dump.status == 0, "\(dump)")
        var restored = 0
        for round in 0..<200 {
            let victim = round % 2 == 0 ? "helper" : "criu"
            let run = killDuring("\(E2E.helper) restore --images-dir \(dir)", victim: victim, delayMilliseconds: Int.random(in: 0...120))
            expectNoCapableProcess("round \(round), \(victim) killed")
            if run.stdout.contains("status=0") { restored += 1 }
            // Whatever came back is killed again before the next round.
            Shell.root("pkill -9 -u \(User.alice.uid) -x ch-count; true")
            // (Zombies are left to init, which reaps them in its own time here.)
            #expect(eventually { Shell.root("ps -u \(User.alice.uid) -o stat= | grep -v '^Z'").stdout.isEmpty },
                    "round \(round): \(Shell.root("ps -u \(User.alice.uid) -o pid,stat,cmd").stdout)")
        }
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(restore.status == 0, "\(restore)")
        let resumed = counter(out)
        #expect(eventually(20) { counter(out) > resumed })
        Kernel.record("killed restores: \(restored) of 200 finished before the kill")
    }

    // MARK: 5. A job that was dumped cannot always be restored

    @Test("at a site that allows multi-threaded tasks, a job with 10,000 threads is dumped, ended and restored")
    func tenThousandThreads() throws {
        let (dir, out) = try #require(startCountingJob("threads", command: "\(E2E.bin)/ch-many-threads 10000", helper: E2E.threadsHelper))
        defer { killAll(.alice) }
        let job = try #require(recordedJob(dir))
        #expect(eventually(30) { Shell.root("grep Threads /proc/\(job.root)/status").stdout.contains("10001") })
        let dump = Shell.user(.alice, "\(E2E.threadsHelper) dump --images-dir \(dir)", timeout: 300)
        #expect(dump.status == 0, "\(dump)")
        #expect(dump.message.contains("(10001 threads)"), "\(dump)")
        let stopped = counter(out)
        let restore = Shell.user(.alice, "\(E2E.threadsHelper) restore --images-dir \(dir)", timeout: 300)
        #expect(restore.status == 0, "\(restore)")
        #expect(eventually(30) { counter(out) > stopped })
    }

    @Test("a job whose generation this installation would refuse to restore is not ended by dump")
    func unrestorableNotEnded() throws {
        let (dir, out) = try #require(startCountingJob("unrestorable", command: "sh -c 'exec 7</proc/1/status; exec \(E2E.bin)/ch-count'"))
        defer { killAll(.alice) }
        let run = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        #expect(run.status == 77, "\(run)")
        #expect(run.message.contains("the dumped images could not be restored: ") && run.message.contains("\"/proc/1/status\", in /proc of a process that is not the job's"), "\(run)")
        #expect(run.message.hasSuffix("they were deleted and the job goes on"))
        let now = counter(out)
        #expect(eventually { counter(out) > now }, "the job was not ended")
        #expect(Shell.root("ls \(dir) | grep '^g0'").stdout.isEmpty)
    }

    // MARK: 6. SIGCONT during restore

    @Test("SIGCONT to the restored tasks during 30 restores: never a hang, never a capability left; refused restores leave nothing")
    func continuedDuringRestore() throws {
        let (dir, _) = try #require(startCountingJob("sigcont"))
        defer { killAll(.alice) }
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        try #require(dump.status == 0, "\(dump)")
        Shell.user(.alice, "(while :; do pkill -CONT -u \(User.alice.uid) -x ch-count; done > /dev/null 2>&1 &)")
        defer { Shell.root("pkill -9 -u \(User.alice.uid) -x sh") }
        var outcomes: [Int32: Int] = [:]
        for round in 0..<30 {
            let began = Date()
            let run = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)", timeout: 90)
            outcomes[run.status, default: 0] += 1
            #expect([0, 77].contains(run.status), "round \(round): \(run)")
            #expect(Date().timeIntervalSince(began) < 60, "round \(round) took \(Date().timeIntervalSince(began)) s")
            if run.status == 77 {
                #expect(run.message.contains("everything restored was killed"), "\(run)")
                #expect(eventually { Shell.root("pgrep -u \(User.alice.uid) -x ch-count").stdout.isEmpty })
            }
            Shell.root("pkill -9 -u \(User.alice.uid) -x ch-count; true")
            expectNoCapableProcess("round \(round)")
        }
        Kernel.record("SIGCONT during restore: \(outcomes)")
    }

    @Test("criu stopped by the caller (SIGSTOP) during restore: the stalled restore is ended within seconds, not at criu-timeout, and nothing keeps a capability")
    func criuStoppedDuringRestore() throws {
        let (dir, _) = try #require(startCountingJob("sigstop"))
        defer { killAll(.alice) }
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        try #require(dump.status == 0, "\(dump)")
        Shell.user(.alice, "(while :; do pkill -STOP -u \(User.alice.uid) -x criu; done > /dev/null 2>&1 &)")
        defer { Shell.root("pkill -9 -u \(User.alice.uid) -x sh") }
        // The loop may miss a short restore on a busy machine: restores
        // that ran to the end are killed and tried again.
        var caught = false
        for round in 0..<10 where !caught {
            let began = Date()
            // Without the stall watch this waits for criu-timeout (1800 s):
            // the harness's timeout ends it and the status is not 77.
            let run = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)", timeout: 120)
            #expect(Date().timeIntervalSince(began) < 60, "round \(round) took \(Date().timeIntervalSince(began)) s: \(run)")
            if run.status == 0 {
                Shell.root("pkill -9 -u \(User.alice.uid) -x ch-count")
                _ = eventually(20) { Shell.root("pgrep -u \(User.alice.uid) -x ch-count").stdout.isEmpty }
                continue
            }
            caught = true
            #expect(run.status == 77, "\(run)")
            #expect(run.message.contains("the restore stalled: nothing in it ran for 5 s"), "\(run)")
            #expect(run.message.contains("everything restored was killed"), "\(run)")
        }
        #expect(caught, "criu was stopped in none of 10 restores")
        Shell.root("pkill -9 -u \(User.alice.uid) -x sh")
        expectNoCapableProcess()
        #expect(eventually { Shell.root("pgrep -u \(User.alice.uid) -x criu").stdout.isEmpty && Shell.root("pgrep -u \(User.alice.uid) -x ch-count").stdout.isEmpty })
        let log = (try? String(contentsOfFile: "\(dir)/criu-helper.log", encoding: .utf8)) ?? ""
        #expect(log.contains("killed, the restore stalled"), "the job's log says why")
    }

    @Test("criu stopped by the caller (SIGSTOP) during dump: the stalled dump is ended within seconds, the job goes on, nothing keeps a capability")
    func criuStoppedDuringDump() throws {
        let (dir, out) = try #require(startCountingJob("sigstop-dump"))
        defer { killAll(.alice) }
        Shell.user(.alice, "(while :; do pkill -STOP -u \(User.alice.uid) -x criu; done > /dev/null 2>&1 &)")
        defer { Shell.root("pkill -9 -u \(User.alice.uid) -x sh") }
        try #require(eventually(10) { !Shell.root("pgrep -u \(User.alice.uid) -f 'pkill -STOP'").stdout.isEmpty }, "the stopper runs")
        // A race: on a busy machine the stopper can miss many dumps in a
        // row (10 of 10, twice under stress-ng), so dumps go on for 90 s.
        var caught = 0
        var round = 0
        let deadline = Date().addingTimeInterval(90)
        while caught < 2 && round < 300 && Date() < deadline {
            round += 1
            let began = Date()
            // Without the stall watch a stopped criu waits for criu-timeout
            // (1800 s): the harness's timeout ends the request.
            let run = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir) --leave-running", timeout: 120)
            #expect(Date().timeIntervalSince(began) < 60, "round \(round) took \(Date().timeIntervalSince(began)) s: \(run)")
            guard run.status != 0 else { continue }
            caught += 1
            #expect(run.status == 1, "\(run)")
            #expect(run.message.contains("stalled: nothing of the dump ran for 5 s"), "\(run)")
            expectNoCapableProcess("round \(round)")
            if run.message.contains("criu was stopped with its work still in the job") {
                // Stopped after its parasite was in the job: the job cannot
                // run on (finding 4), it is ended and the previous generation stands.
                #expect(eventually(20) { Shell.root("pgrep -u \(User.alice.uid) -x ch-count").stdout.isEmpty }, "the job was ended")
                break
            }
            let before = counter(out)
            #expect(eventually(20) { counter(out) > before }, "the job goes on after a stalled dump")
        }
        #expect(caught > 0, "criu was stopped in none of \(round) dumps")
    }

    @Test("criu stopped by the caller (SIGSTOP) the moment its system-call instructions stand in the job's code: the stalled dump is ended, and the helper ends the job and says so rather than leave it to die of SIGTRAP")
    func criuStoppedInSyscallWindow() throws {
        defer { killAll(.alice) }
        var caught = false
        for round in 0..<10 where !caught {
            // A job of its own each round: a round that stops criu just after
            // its instructions (with its parasite mapped) ends the job too.
            killAll(.alice)
            let (dir, out) = try #require(startCountingJob("poke-stop-\(round)"))
            let job = try #require(recordedJob(dir))
            // alice's watcher reads her job's code (/proc/PID/mem) and stops
            // her criu when criu has written its instructions there.
            let watched = "\(User.alice.home)/e2e/poke-stop.\(round)"
            Shell.user(.alice, "rm -f \(watched); (\(E2E.bin)/ch-poke-stop \(job.root) \(User.alice.uid) 60 > \(watched) 2>&1 &)")
            try #require(eventually(10) { !Shell.root("pgrep -u \(User.alice.uid) -x ch-poke-stop").stdout.isEmpty }, "the watcher runs")
            let run = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir) --leave-running", timeout: 120)
            // A watcher that acted printed what it saw long before the
            // stalled dump ended; one still watching missed the dump.
            Shell.root("pkill -9 -u \(User.alice.uid) -x ch-poke-stop")
            let watcher = ((try? String(contentsOfFile: watched, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            expectNoCapableProcess("round \(round)")
            let ended = run.message.contains("criu was stopped with its work still in the job")
            guard watcher == "caught" else {
                // criu had put the code back before it stopped, or the dump
                // ended first: the job goes on, or was ended and the helper said so.
                if !ended {
                    let before = counter(out)
                    #expect(eventually(20) { counter(out) > before }, "round \(round) (\(watcher)): the job goes on: \(run)")
                }
                continue
            }
            caught = true
            #expect(run.status == 1, "\(run)")
            #expect(run.message.contains("stalled: nothing of the dump ran for 5 s"), "\(run)")
            #expect(ended, "the helper says the job was ended: \(run)")
            #expect(eventually(20) { Shell.root("pgrep -u \(User.alice.uid) -x ch-count").stdout.isEmpty }, "the job was ended")
            let log = (try? String(contentsOfFile: "\(dir)/criu-helper.log", encoding: .utf8)) ?? ""
            #expect(log.contains("so the job was ended"), "the job's log says why")
        }
        #expect(caught, "criu was never stopped with its instructions in the job in 10 dumps")
    }

    @Test("criu that never ends is killed after criu-timeout, with everything it started; the request fails")
    func criuTimeout() throws {
        defer { Probe.setMode("ok"); killAll(.alice) }
        let gen = try #require(ForgedImageTests.baseGeneration())
        let dir = User.alice.scratch("hang")
        Shell.root("mkdir -p \(dir) && cp -a \(gen) \(dir)/g000001 && rm -f \(dir)/g000001/*.log && chown -R \(User.alice.name): \(dir) && chmod 700 \(dir)")
        let job = try #require(Job.start(.alice, "\(E2E.bin)/ch-count", output: "\(User.alice.home)/e2e/hang.out"))
        Probe.reset(.alice)
        Probe.setMode("hang")
        for request in ["dump --pid \(job.pid) --images-dir \(dir) --leave-running", "restore --images-dir \(dir)"] {
            let began = Date()
            let run = Shell.user(.alice, "\(E2E.probeHelper) \(request)", timeout: 90)
            #expect(run.status == 1, "\(run)")
            #expect(run.message.contains("did not finish within criu-timeout = 5 s and was killed"), "\(run)")
            #expect(Date().timeIntervalSince(began) < 30)
            #expect(eventually { Shell.root("pgrep -u \(User.alice.uid) -f criu-probe").stdout.isEmpty })
            expectNoCapableProcess(request)
        }
    }

    // MARK: 7. Audit flooding

    @Test("`check` killed while criu runs with its capability has already left its audit record")
    func checkKilledMidway() throws {
        defer { killAll(.alice) }
        // The helper is killed once a criu of alice's holds an effective capability.
        let script = """
            \(E2E.helper) check > /dev/null 2>&1 & h=$!
            i=0
            while [ $i -lt 20000 ] && kill -0 $h 2>/dev/null; do
              for p in $(pgrep -u \(User.alice.uid) -x criu); do
                if grep -q '^CapEff:.*[1-9a-f]' /proc/$p/status 2>/dev/null; then kill -9 $h; echo killed; exit 0; fi
              done
              i=$((i+1))
            done
            echo missed
            """
        var killed = false
        for _ in 0..<10 where !killed {
            let audit = AuditLog.mark()
            let run = Shell.user(.alice, script)
            guard run.stdout.contains("killed") else { continue }
            killed = true
            let records = audit.records(containing: "op=check").filter { $0.contains(" uid=\(User.alice.uid) ") }
            #expect(records.count == 1, "the check is on record before criu runs: \(records)")
        }
        #expect(killed, "the helper was never caught while criu ran")
        expectNoCapableProcess()
    }

    @Test("one audit record per request, at most 2 KiB, also for a 1,000-character images directory")
    func auditRecordsBounded() throws {
        let long = "/" + String(repeating: "x", count: 1000)
        let audit = AuditLog.mark()
        let run = Shell.user(.alice, "\(E2E.helper) list --images-dir \(long)")
        #expect(run.status == 77, "\(run)")
        let hex = String(repeating: "78", count: 150)
        let records = audit.records(containing: hex)
        #expect(records.count == 1, "one record per request: \(records.count)")
        #expect(records.allSatisfy { $0.utf8.count <= 2048 }, "\(records.map(\.utf8.count))")
    }

    // MARK: 8. The helper's hygiene leaks into the job

    @Test("a job gets the caller's umask, limits and ignored signals; a restored job its own hard core limit")
    func callerStateReachesTheJob() throws {
        let dir = User.alice.scratch("hygiene-job")
        let out = "\(User.alice.home)/e2e/hygiene-job.out"
        let run = Shell.user(.alice, "umask 022; ulimit -S -c 1000; ulimit -H -c 5000; trap '' HUP; grep SigIgn /proc/self/status > \(out).caller; \(E2E.helper) run --images-dir \(dir) -- sh -c 'umask; ulimit -S -c; ulimit -H -c; grep SigIgn /proc/self/status; touch \(out).file' > \(out) 2>&1")
        #expect(run.status == 0, "\(run)")
        let lines = lines(out)
        #expect(lines.prefix(3) == ["0022", "1000", "5000"], "\(lines)")
        let callers = lastLine("\(out).caller")
        #expect(callers.hasPrefix("SigIgn:") && callers.hasSuffix("1") && lines.contains(callers), "SIGHUP (and all else) ignored as the caller had it: \(callers) vs \(lines)")
        #expect(Shell.root("stat -c %a \(out).file").stdout.hasPrefix("644"), "files of the job's get the caller's umask")
        // A restored job keeps the hard core limit it was dumped with.
        let (cdir, _) = try #require(startCountingJob("hygiene-restore", command: "sh -c 'ulimit -H -c 5000; ulimit -S -c 100; exec \(E2E.bin)/ch-count'"))
        defer { killAll(.alice) }
        #expect(Shell.user(.alice, "\(E2E.helper) dump --images-dir \(cdir)").status == 0)
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(cdir)")
        let pid = try #require(Int32(restore.stdout.split(separator: "\n").last ?? ""), "\(restore)")
        let limits = Shell.root("grep 'core file' /proc/\(pid)/limits").stdout
        #expect(limits.contains(" 51200 ") && limits.contains(" 2560000 "), "soft 100, hard 5000 blocks of 512 bytes: \(limits)")
    }

    @Test("a task that was stopped when it was dumped stays stopped after restore")
    func stoppedStaysStopped() throws {
        let (dir, _) = try #require(startCountingJob("stopped", command: "sh -c '\(E2E.bin)/ch-count & sleep 1.5; kill -STOP $!; wait'"))
        defer { killAll(.alice) }
        #expect(eventually { Shell.root("ps -u \(User.alice.uid) -o stat=,comm= | grep '^T.*ch-count'").status == 0 })
        #expect(Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)").status == 0)
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(restore.status == 0, "\(restore)")
        #expect(eventually { Shell.root("ps -u \(User.alice.uid) -o stat=,comm= | grep '^T.*ch-count'").status == 0 },
                "still stopped: \(Shell.root("ps -u \(User.alice.uid) -o stat,comm").stdout)")
        #expect(Shell.root("ps -u \(User.alice.uid) -o stat=,comm= | grep '^S.*sh'").status == 0, "its parent runs")
    }

    @Test("a task stopped by SIGTSTP comes back stopped by SIGTSTP: its parent's waitid says so before and after restore")
    func stopSignalKept() throws {
        let script = "\(User.alice.home)/e2e/stop-signal.py"
        Shell.user(.alice, """
            mkdir -p \(User.alice.home)/e2e && cat > \(script) <<'PY'
            import os, signal, time
            child = os.fork()
            if child == 0:
                os.setpgid(0, 0)
                while True: time.sleep(1)
            os.setpgid(child, child)  # its own group, with its parent in the session: not orphaned
            os.kill(child, signal.SIGTSTP)
            while True:
                info = os.waitid(os.P_PID, child, os.WSTOPPED | os.WNOWAIT | os.WNOHANG)
                print("stopped by %d" % info.si_status if info else "running", flush=True)
                time.sleep(0.1)
            PY
            """)
        let dir = User.alice.scratch("stop-signal")
        let out = "\(User.alice.home)/e2e/stop-signal.out"
        Shell.root("rm -f '\(out)'")
        Shell.user(.alice, "(\(E2E.helper) run --images-dir \(dir) -- /usr/bin/python3 \(script) > \(out) 2>&1 &)")
        defer { killAll(.alice) }
        try #require(eventually(20) { lastLine(out) == "stopped by \(SIGTSTP)" && FileManager.default.fileExists(atPath: "\(dir)/job") },
                     "\(lines(out).suffix(3))")
        #expect(Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)").status == 0)
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        try #require(restore.status == 0, "\(restore)")
        let at = lines(out).count
        #expect(eventually(20) { lines(out).count > at + 5 }, "the restored parent runs")
        let after = lines(out).dropFirst(at + 1)
        #expect(!after.isEmpty && after.allSatisfy { $0 == "stopped by \(SIGTSTP)" }, "after restore: \(Array(after.suffix(5)))")
    }

    // MARK: Third red team. 1: a thread that has dropped criu's capability lends it to its siblings

    @Test("a multi-threaded job is not dumped where the site refuses multi-threaded tasks: one clear line, the job runs on")
    func multiThreadedDumpRefused() throws {
        let (dir, out) = try #require(startCountingJob("threaded-dump", command: "\(E2E.bin)/ch-many-threads 8"))
        defer { killAll(.alice) }
        let audit = AuditLog.mark()
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        #expect(dump.status == 77, "\(dump)")
        #expect(dump.message.hasPrefix("criu-helper: refused: task ") && dump.message.contains(" has 9 threads, and this site restores single-threaded tasks only"), "\(dump)")
        #expect(dump.stderr.split(separator: "\n").count == 1, "\(dump)")
        #expect(audit.records(containing: dir).contains { $0.contains("op=dump") && $0.contains("res=failed") })
        #expect(Shell.root("ls \(dir) | grep '^g0'").stdout.isEmpty, "no generation")
        let now = counter(out)
        #expect(eventually { counter(out) > now }, "the job runs on")
    }

    @Test("restoring a multi-threaded task is refused before criu starts; where a site allows it, a thread that has dropped criu's capability is writable while a sibling still holds it")
    func multiThreadedRestore() throws {
        // A generation with a task of 2,001 threads, from the site that allows them.
        let (dir, _) = try #require(startCountingJob("threaded-restore", command: "\(E2E.bin)/ch-many-threads 2000", helper: E2E.threadsHelper))
        defer { killAll(.alice) }
        let job = try #require(recordedJob(dir))
        #expect(eventually(30) { Shell.root("grep Threads /proc/\(job.root)/status").stdout.contains("2001") })
        let dump = Shell.user(.alice, "\(E2E.threadsHelper) dump --images-dir \(dir)", timeout: 300)
        try #require(dump.status == 0, "\(dump)")
        let watch = "\(User.alice.home)/e2e/borrow.out"

        // This site: refused from the images, criu never runs, nothing to borrow.
        Shell.user(.alice, "(\(E2E.bin)/ch-borrow 15 > \(watch) 2>&1 &)")
        let refused = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(refused.status == 77, "\(refused)")
        #expect(refused.message.contains("has 2001 threads, and this site restores single-threaded tasks only"), "\(refused)")
        #expect(eventually(30) { lastLine(watch).hasPrefix("not exposed") }, "\(lastLine(watch))")
        #expect(lastLine(watch) == "not exposed: no criu of mine ran")

        // The site that allows them: the moment the attack needs comes.
        var exposed = false
        for _ in 0..<3 where !exposed {
            Shell.root("pkill -9 -u \(User.alice.uid) -x ch-many-threads; true")
            Shell.user(.alice, "(\(E2E.bin)/ch-borrow 120 > \(watch) 2>&1 &)")
            let allowed = Shell.user(.alice, "\(E2E.threadsHelper) restore --images-dir \(dir)", timeout: 300)
            #expect(eventually(150) { lastLine(watch).contains("exposed") }, "\(allowed)")
            exposed = lastLine(watch).hasPrefix("exposed: ")
            Kernel.record("multi-threaded restore, multi-threaded = allow: \(lastLine(watch))")
        }
        #expect(exposed, "the race the default closes was never seen: \(lastLine(watch))")
    }

    // MARK: Third red team. 2: the job's stdio reopened with the reaper's capability

    static let pciConfig: String? = {
        let devices = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/bus/pci/devices")) ?? []
        return devices.sorted().map { "/sys/bus/pci/devices/\($0)/config" }.first { FileManager.default.fileExists(atPath: $0) }
    }()

    @Test("a job's stdio is reopened as the caller, with no capability: a PCI device's config space reads as the caller reads it",
          .enabled(if: pciConfig != nil, "this machine has no PCI device"))
    func stdioWithoutCapabilities() throws {
        let config = try #require(Self.pciConfig)
        defer { killAll(.alice) }
        let direct = Shell.user(.alice, "wc -c < \(config)").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let asRoot = Shell.root("wc -c < \(config)").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(direct != asRoot, "the file reads the same to everyone here: \(direct) bytes")
        let dir = User.alice.scratch("stdio-caps")
        let job = Shell.user(.alice, "\(E2E.helper) run --images-dir \(dir) -- sh -c 'wc -c' < \(config)")
        #expect(job.status == 0, "\(job)")
        #expect(job.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == direct, "the job read \(job.stdout) bytes, alice reads \(direct), root \(asRoot)")
    }

    // MARK: Third red team. 3: a path swapped after validation

    /// A job of alice's running her own copy of sleep (BASE/prog), dumped;
    /// its generation forged as the attacker would (the executable's size,
    /// mode and build-id dropped, so that criu itself does not compare the
    /// file it opens), and BASE/prog.new a link to /usr/bin/passwd, ready for
    /// ch-swap to rename over BASE/prog while criu restores.
    func dumpedSwappableJob(_ name: String) throws -> (base: String, dir: String) {
        let base = "\(User.alice.home)/e2e/\(name)"
        let dir = User.alice.scratch("\(name)-images")
        Shell.root("rm -rf \(base)")
        Shell.user(.alice, "mkdir -p \(base) && cp /usr/bin/sleep \(base)/prog")
        Shell.user(.alice, "(\(E2E.helper) run --images-dir \(dir) -- \(base)/prog 100000 > /dev/null 2>&1 &)")
        #expect(eventually(20) { recordedJob(dir) != nil })
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        try #require(dump.status == 0, "\(dump)")
        let gen = Shell.root("ls -d \(dir)/g0* | tail -1").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        ImageForge(directory: gen).rewrite("files.img") { entries in
            entries.map { entry in
                entry.editing(3) { reg in
                    guard reg.fields.contains(where: { field in
                        if field.number == 6, case .bytes(let b) = field.value { return String(decoding: b, as: UTF8.self) == "\(base)/prog" }
                        return false
                    }) else { return reg }
                    return [8, 10, 11, 12, 13, 14].reduce(reg) { $0.removing($1) }
                }
            }
        }
        Shell.root("chown -R \(User.alice.name): \(gen)")
        Shell.user(.alice, "ln -s /usr/bin/passwd \(base)/prog.new")
        return (base, dir)
    }

    @Test("an executable swapped for a set-user-ID program after the images were checked: the restored task is found running it and everything restored is killed")
    func executableSwapped() throws {
        defer { killAll(.alice) }
        // ch-swap must stop criu before criu opens the executable again; on a
        // busy machine it can come too late, and the restore then rightly
        // runs the program that was checked. Up to 5 tries for one in time.
        var caught = false
        for attempt in 0..<5 where !caught {
            killAll(.alice)
            let (base, dir) = try dumpedSwappableJob("swap-\(attempt)")
            let swapped = "\(User.alice.home)/e2e/swap.out"
            Shell.root("rm -f \(swapped)")
            Shell.user(.alice, "(\(E2E.bin)/ch-swap \(base)/prog \(base)/prog.new 60 > \(swapped) 2>&1 &)")
            let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
            #expect(eventually { lastLine(swapped) == "swapped" }, "\(lastLine(swapped))")
            if restore.status == 0 {
                // Swapped too late: what was restored is the checked program.
                let root = restore.stdout.split(separator: "\n").last.map(String.init) ?? ""
                let exe = Shell.root("readlink /proc/\(root)/exe").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(!exe.isEmpty && exe != "/usr/bin/passwd", "attempt \(attempt): the restored task runs \(exe)")
                continue
            }
            caught = true
            #expect(restore.status == 77, "\(restore)")
            #expect(restore.message.contains("runs /usr/bin/passwd, which is set-user-ID or set-group-ID"), "\(restore)")
            #expect(restore.message.contains("everything restored was killed"), "\(restore)")
            #expect(eventually { Shell.root("pgrep -u \(User.alice.uid) -x passwd").stdout.isEmpty })
            expectNoCapableProcess()
        }
        #expect(caught, "the swap never came between the helper's check and criu's open in 5 restores")
    }

    @Test("the same swap with the helper stopped while criu restores and the restored task continued by the caller: criu's action script refuses while criu still holds the tasks, and nothing restored ever runs")
    func executableSwappedHelperStopped() throws {
        defer { killAll(.alice) }
        let (base, dir) = try dumpedSwappableJob("swap2")
        let swapped = "\(User.alice.home)/e2e/swap2.out", result = "\(User.alice.home)/e2e/swap2-restore.out"
        Shell.user(.alice, "(\(E2E.bin)/ch-swap \(base)/prog \(base)/prog.new 60 stop-helper > \(swapped) 2>&1 &)")
        Shell.user(.alice, "(sh -c '\(E2E.helper) restore --images-dir \(dir); echo exit $?' > \(result) 2>&1 &)")
        #expect(eventually(60) { lastLine(swapped) == "swapped" }, "\(lastLine(swapped))")
        // criu finishes (or gives up) while the helper is stopped; the caller
        // then continues whatever is stopped, as the red team did.
        #expect(eventually(60) { Shell.root("pgrep -u \(User.alice.uid) -x criu").stdout.isEmpty })
        let stopped = Shell.root("ps -u \(User.alice.uid) -o pid=,stat=,comm= | awk '$2 ~ /^T/ && $3 == \"criu-helper\"'").stdout
        #expect(!stopped.isEmpty, "the helper was stopped")
        // Without the action script, the restored task would be here now,
        // stopped, showing /usr/bin/passwd, for the caller to continue.
        let runsPasswd = "for p in $(pgrep -u \(User.alice.uid)); do readlink /proc/$p/exe; done | grep -qx /usr/bin/passwd"
        #expect(Shell.root(runsPasswd).status != 0, "a restored task shows /usr/bin/passwd: \(Shell.root("ps -u \(User.alice.uid) -o pid,stat,comm").stdout)")
        Shell.root("for p in $(ps -u \(User.alice.uid) -o pid=,comm= | awk '$2 != \"criu-helper\" {print $1}'); do kill -CONT $p; done")
        #expect(Shell.root(runsPasswd).status != 0, "a restored task runs /usr/bin/passwd")
        Shell.root("pkill -CONT -u \(User.alice.uid) -x criu-helper")
        #expect(eventually(60) { lastLine(result).hasPrefix("exit ") }, "\((try? String(contentsOfFile: result, encoding: .utf8)) ?? "")")
        let text = (try? String(contentsOfFile: result, encoding: .utf8)) ?? ""
        #expect(lastLine(result) == "exit 77", "\(text)")
        #expect(text.contains("criu-helper: refused: restored task ") && text.contains("runs /usr/bin/passwd, which is set-user-ID or set-group-ID; everything restored was killed"), "\(text)")
        expectNoCapableProcess()
    }

    // MARK: Third red team. 5: another user takes the name criu recreates a deleted file at

    @Test("another user taking the name a deleted file is recreated at: dump does not end the job, restore is refused with one clear line, and works once the name is free")
    func ghostNameTaken() throws {
        let scratch = "/tmp/e2e-alice-scratch"
        let squat = "for i in $(seq 1 64); do touch \(scratch).cr.$(printf %x $i).ghost; done"
        Shell.root("rm -f \(scratch)*")
        defer { Shell.root("rm -f \(scratch)*") }
        let (dir, out) = try #require(startCountingJob("ghost-squat", command: "sh -c 'exec 7>\(scratch); echo data >&7; rm \(scratch); exec \(E2E.bin)/ch-count'"))
        defer { killAll(.alice); killAll(.bob) }

        // Taken before the dump: the dump does not end the job.
        Shell.user(.bob, squat)
        let early = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        #expect(early.status == 77, "\(early)")
        #expect(early.message.contains("is recreated for the restore as \"\(scratch).cr.") && early.message.contains("that name is taken (by uid \(User.bob.uid))"), "\(early)")
        let now = counter(out)
        #expect(eventually { counter(out) > now }, "the job runs on")

        // Taken after the dump: the restore is refused, nothing started.
        Shell.root("rm -f \(scratch).cr.*")
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        try #require(dump.status == 0, "\(dump)")
        Shell.user(.bob, squat)
        let refused = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(refused.status == 77, "\(refused)")
        #expect(refused.message.contains("that name is taken (by uid \(User.bob.uid)): it must be removed first"), "\(refused)")
        #expect(Shell.root("pgrep -u \(User.alice.uid) -x ch-count").stdout.isEmpty, "nothing was started")

        // Free again: the job comes back with its deleted file.
        Shell.root("rm -f \(scratch).cr.*")
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(restore.status == 0, "\(restore)")
        let resumed = counter(out)
        #expect(eventually { counter(out) > resumed })
    }

    // MARK: Eighth red team. 1: another user swaps a directory above the images directory

    @Test("red team 8: another user who may rename a directory above alice's images directory (bob's, mode 0777) waits for her criu to swap in his page files: restore, dump and run refuse that place before criu starts, creating nothing, and the generation restores once the directory is hers again")
    func ancestorSwapped() throws {
        let project = "\(User.alice.home)/e2e/shared-project"
        let dir = "\(project)/ck"
        let out = "\(User.alice.home)/e2e/shared-project.out"
        Shell.root("rm -rf '\(project)' '\(out)'; mkdir -p '\(project)' && chown \(User.alice.name): '\(project)' && chmod 0755 '\(project)'")
        defer { killAll(.alice); killAll(.bob); Shell.root("rm -rf '\(project)'") }
        Shell.user(.alice, "(\(E2E.helper) run --images-dir \(dir) -- \(E2E.bin)/ch-count > \(out) 2>&1 &)")
        try #require(eventually(20) { counter(out) >= 1 && FileManager.default.fileExists(atPath: "\(dir)/job") }, "the job started")
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        try #require(dump.status == 0, "\(dump)")
        let stopped = counter(out)

        // The directory becomes bob's, open to all (a shared project
        // directory). Bob plants page files of his own and waits for
        // alice's criu to exchange the two directories under it.
        Shell.root("chown \(User.bob.name): '\(project)' && chmod 0777 '\(project)'")
        Shell.user(.bob, "mkdir -p \(project)/evil/g000001 && head -c 4194304 /dev/zero > \(project)/evil/g000001/pages-1.img && chmod -R a+rX \(project)/evil")
        let watched = "\(User.bob.home)/e2e-exchange.out"
        Shell.root("rm -f \(watched)")
        Shell.user(.bob, "(\(E2E.bin)/ch-exchange \(dir) \(project)/evil \(User.alice.uid) 60 > \(watched) 2>&1 &)")
        try #require(eventually(10) { !Shell.root("pgrep -u \(User.bob.uid) -x ch-exchange").stdout.isEmpty }, "bob's watcher runs")

        let audit = AuditLog.mark()
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(restore.status == 77, "\(restore)")
        #expect(restore.message == "criu-helper: refused: images directory '\(dir)' is inside '\(project)', which belongs to uid \(User.bob.uid): another user could swap what a restore reads", "\(restore)")
        #expect(audit.records(containing: dir).contains { $0.contains("op=restore") && $0.contains("decision=refused") })
        let again = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        #expect(again.status == 77 && again.message.contains("is inside '\(project)', which belongs to uid \(User.bob.uid)"), "\(again)")
        let run = Shell.user(.alice, "\(E2E.helper) run --images-dir \(project)/new -- true")
        #expect(run.status == 77 && run.message.contains("would be inside '\(project)', which belongs to uid \(User.bob.uid)"), "\(run)")
        #expect(!FileManager.default.fileExists(atPath: "\(project)/new"), "run created nothing")
        #expect(Shell.root("pgrep -u \(User.alice.uid) -x ch-count").stdout.isEmpty, "nothing was restored")
        killAll(.bob)
        #expect(!lines(watched).contains("exchanged"), "bob's watcher saw a criu of alice's and swapped: \(lines(watched))")

        // A directory writable by others without the sticky bit, even
        // alice's own, is refused alike; with the sticky bit it is not.
        Shell.root("rm -rf '\(project)/evil' && chown \(User.alice.name): '\(project)'")
        let open = Shell.user(.alice, "\(E2E.helper) list --images-dir \(dir)")
        #expect(open.status == 77 && open.message.contains("which group or others may write to without the sticky bit (mode 777)"), "\(open)")
        Shell.root("chmod 1777 '\(project)'")
        let sticky = Shell.user(.alice, "\(E2E.helper) list --images-dir \(dir)")
        #expect(sticky.status == 0, "\(sticky)")

        // Hers again: the generation was left as it was and restores.
        Shell.root("chmod 0755 '\(project)'")
        let resumed = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(resumed.status == 0, "\(resumed)")
        #expect(eventually(20) { counter(out) > stopped }, "the job counts on")
        expectNoCapableProcess()
    }

    // MARK: Eighth red team. 2: another user holds up a restore with a file lock

    @Test("red team 8: another user who locks the job's lock file (mode 0644) between dump and restore: the restore ends within seconds, naming the file and the holder, nothing restored runs, nothing keeps a capability, and it restores once the lock is let go")
    func lockTakenBetweenDumpAndRestore() throws {
        let (dir, out, lock, undo) = try dumpedJobWithSharedLock("state-lock")
        defer { undo() }
        Shell.user(.bob, "(flock \(lock) sleep 600 > /dev/null 2>&1 &)")
        try #require(eventually(10) { Shell.root("flock -n \(lock) true").status != 0 }, "bob holds the lock")
        let holder = Shell.root("pgrep -u \(User.bob.uid) -x flock").stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        let audit = AuditLog.mark()
        let began = Date()
        // Without the lock watch criu waits for bob until criu-timeout
        // (1800 s): the harness's timeout ends it and the status is not 77.
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)", timeout: 120)
        #expect(Date().timeIntervalSince(began) < 60, "took \(Date().timeIntervalSince(began)) s: \(restore)")
        #expect(restore.status == 77, "\(restore)")
        #expect(restore.message.hasPrefix("criu-helper: refused: the restore waited 5 s for file locks held outside the job, the last a lock (FLOCK) on \"\(lock)\", which process \(holder) of uid \(User.bob.uid) holds"), "\(restore)")
        #expect(restore.message.hasSuffix("; everything restored was killed"), "\(restore)")
        // The reason, a caller value, is hex-encoded.
        let why = "file locks".utf8.map { String(format: "%02X", $0) }.joined()
        #expect(audit.records(containing: dir).contains { $0.contains("op=restore") && $0.contains("decision=undone") && $0.contains(why) },
                "the audit record says why")
        #expect(eventually { Shell.root("pgrep -u \(User.alice.uid) -x ch-state").stdout.isEmpty }, "nothing restored runs")
        expectNoCapableProcess()
        let log = (try? String(contentsOfFile: "\(dir)/criu-helper.log", encoding: .utf8)) ?? ""
        #expect(log.contains("killed, the restore waited 5 s for file locks"), "the job's log says why")

        // Bob lets go: the same generation restores, with its lock.
        killAll(.bob)
        let resumed = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(resumed.status == 0, "\(resumed)")
        let restoredAt = lines(out).count
        #expect(eventually(20) { lines(out).dropFirst(restoredAt).contains { $0.hasPrefix("tick ") } }, "the job runs on: \(lines(out).suffix(5))")
        #expect(Shell.root("flock -n \(lock) true").status != 0, "the restored job holds its lock")
    }

    /// Once bob holds `lock`: alice's restore of `dir`, which must be
    /// refused (77) within 30 s.
    func restoreRefusedWhileBobLocks(_ lock: String, _ dir: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Run {
        try #require(eventually(10) { Shell.root("flock -n \(lock) true").status != 0 }, "bob holds the lock", sourceLocation: sourceLocation)
        let began = Date()
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)", timeout: 120)
        let took = Date().timeIntervalSince(began)
        #expect(took < 30, "took \(took) s: \(restore)", sourceLocation: sourceLocation)
        #expect(restore.status == 77, "\(restore)", sourceLocation: sourceLocation)
        return restore
    }

    /// Alice's job (ch-state) dumped while it holds a lock on its lock
    /// file, which all may read, in directories all may search (a shared
    /// input's lock, say), as it stays after the dump: another user can
    /// open it and lock it. `undo` ends alice's and bob's processes and
    /// puts the directories' modes back.
    func dumpedJobWithSharedLock(_ name: String) throws -> (dir: String, out: String, lock: String, undo: () -> Void) {
        let lock = "\(StateTests.base)/ch-state.lock"
        let searchable = [User.alice.home, "\(User.alice.home)/e2e", StateTests.base]
        let modes = searchable.map { Shell.root("stat -c %a '\($0)'").stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        let undo = {
            killAll(.alice); killAll(.bob)
            for (path, mode) in zip(searchable, modes) where !mode.isEmpty { Shell.root("chmod \(mode) '\(path)'") }
        }
        do {
            let (dir, out, _) = try StateTests.dumpedJob(name) {
                Shell.root("chmod 0644 '\(lock)' && chmod o+x \(searchable.map { "'\($0)'" }.joined(separator: " "))")
            }
            return (dir, out, lock, undo)
        } catch {
            undo()
            throw error
        }
    }
}

extension AttackTests {
    // MARK: Ninth red team: the lock watch fooled

    @Test("red team 9: another user who holds the job's lock while taking and dropping locks of their own every 20 ms (the wait's line in /proc/locks moves): the restore still ends within seconds")
    func lockWaitThatMoves() throws {
        let (dir, _, lock, undo) = try dumpedJobWithSharedLock("state-lock-moving")
        defer { undo() }
        let churn = "\(User.bob.home)/e2e-churn.py"
        Shell.root("""
            cat > \(churn) <<'PY'
            import fcntl, os, random, time
            files = [open(os.path.expanduser('~/e2e-churn-%d' % i), 'w') for i in range(32)]
            while True:
                held = random.sample(files, random.randint(0, 31))
                for f in held: fcntl.flock(f, fcntl.LOCK_EX)
                time.sleep(0.02)
                for f in held: fcntl.flock(f, fcntl.LOCK_UN)
            PY
            chown \(User.bob.name): \(churn)
            """)
        Shell.user(.bob, "(flock \(lock) sleep 600 > /dev/null 2>&1 &); (python3 \(churn) > /dev/null 2>&1 &)")
        let restore = try restoreRefusedWhileBobLocks(lock, dir)
        #expect(restore.message.contains("the restore waited 5 s for file locks held outside the job, the last a lock (FLOCK) on \"\(lock)\""), "\(restore)")
        expectNoCapableProcess()
    }

    @Test("red team 11: another user who holds the job's lock and 200,000 POSIX locks of their own (each read of /proc/locks then takes seconds; 2,000 files of 100): the restore still ends within seconds")
    func lockWaitBehindAFloodOfLocks() throws {
        let (dir, _, lock, undo) = try dumpedJobWithSharedLock("state-lock-flood")
        defer { undo() }
        let flood = "\(User.bob.home)/e2e-flood"
        Shell.root("""
            cat > \(flood).py <<'PY'
            import fcntl, os, resource, time
            # 2,000 files of 100 locks: the kernel keeps a file's locks in a
            # list, so one file of 200,000 would take minutes to lock.
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
            os.makedirs(os.path.expanduser('~/e2e-flood'), exist_ok=True)
            files = [open(os.path.expanduser('~/e2e-flood/%d' % n), 'w') for n in range(2000)]
            for f in files:
                for i in range(100):
                    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 2 * i)
            print('locked', flush=True)
            time.sleep(600)
            PY
            chown \(User.bob.name): \(flood).py
            """)
        defer { Shell.root("rm -rf \(flood) \(flood).py \(flood).out") }
        Shell.user(.bob, "(python3 \(flood).py > \(flood).out 2>&1 &); (flock \(lock) sleep 600 > /dev/null 2>&1 &)")
        try #require(eventually(120) { lines("\(flood).out").contains("locked") }, "bob holds his locks: \(lines("\(flood).out"))")
        // Before: each sample read the whole table in 64 KiB reads (minutes
        // with this many locks), and neither the watch nor criu-timeout
        // ended the restore until the harness's 120 s did.
        let restore = try restoreRefusedWhileBobLocks(lock, dir)
        #expect(restore.message.hasPrefix("criu-helper: refused: the restore waited 5 s"), "\(restore)")
        #expect(restore.message.hasSuffix("; everything restored was killed"), "\(restore)")
        expectNoCapableProcess()
    }

    @Test("red team 9: another user's lease on a file the job had open: criu's open waits for the lease break (45 s a file); the restore ends within seconds, naming the file")
    func leaseOnAFileTheJobOpened() throws {
        let shared = "\(User.bob.home)/e2e-shared"
        let bobHome = Shell.root("stat -c %a '\(User.bob.home)'").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { killAll(.alice); killAll(.bob); Shell.root("chmod \(bobHome) '\(User.bob.home)'; rm -f \(shared) \(shared).py") }
        Shell.root("chmod o+x '\(User.bob.home)'")
        Shell.user(.bob, "echo data > \(shared) && chmod 0644 \(shared)")
        let (dir, out) = try #require(startCountingJob("lease", command: "sh -c 'exec 4<\(shared); exec \(E2E.bin)/ch-count'"))
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        try #require(dump.status == 0, "\(dump)")
        try #require(eventually { Shell.root("pgrep -u \(User.alice.uid) -x ch-count").stdout.isEmpty }, "the dumped job ended")
        _ = out
        Shell.root("""
            cat > \(shared).py <<'PY'
            import fcntl, signal, sys, time
            signal.signal(signal.SIGIO, signal.SIG_IGN)
            f = open(sys.argv[1], 'r+')
            fcntl.fcntl(f, 1024, fcntl.F_WRLCK)   # F_SETLEASE
            print('leased', flush=True)
            time.sleep(600)
            PY
            chown \(User.bob.name): \(shared).py
            """)
        Shell.user(.bob, "(python3 \(shared).py \(shared) > \(shared).leased 2>&1 &)")
        try #require(eventually(10) { lines("\(shared).leased").contains("leased") }, "bob holds a lease: \(lines("\(shared).leased"))")
        let began = Date()
        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)", timeout: 120)
        let took = Date().timeIntervalSince(began)
        // Without the watch seeing the lease break, criu's open waits the
        // kernel's 45 s lease-break-time, then the restore succeeds.
        #expect(took < 30, "took \(took) s: \(restore)")
        #expect(restore.status == 77, "\(restore)")
        #expect(restore.message.contains("the last a lease on \"\(shared)\", which process "), "\(restore)")
        #expect(restore.message.hasSuffix("; everything restored was killed"), "\(restore)")
        expectNoCapableProcess()
    }
}

extension AttackTests {
    // MARK: Tenth red team: the restore's terminal

    @Test("red team 10: a restore run from a terminal (a session outside the job's, so criu runs --shell-job) gives the restored job no controlling terminal: it cannot type into the shell that ran the restore")
    func restoreFromATerminal() throws {
        defer { killAll(.alice) }
        let (dir, _) = try #require(startCountingJob("terminal"))
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        try #require(dump.status == 0, "\(dump)")
        try #require(eventually { Shell.root("pgrep -u \(User.alice.uid) -x ch-count").stdout.isEmpty }, "the dumped job ended")
        // The root's session outside the tree: criu restores it into its own (--shell-job).
        let generation = Shell.root("ls -d \(dir)/g0* | tail -1").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        ImageForge(directory: generation).rewrite("pstree.img") { $0.enumerated().map { $0.offset == 0 ? $0.element.setting(4, 999) : $0.element } }
        Shell.root("chown -R \(User.alice.name): \(generation)")
        // script(1) runs the restore on a terminal of its own, its controlling
        // terminal, and, while that session still has it, reads the restored
        // root's controlling terminal (tty_nr, the 7th field of its stat).
        let probe = "\(User.alice.home)/e2e/terminal.sh"
        let report = "\(User.alice.home)/e2e/terminal.tty"
        Shell.root("""
            cat > \(probe) <<'SH'
            \(E2E.helper) restore --images-dir \(dir) > \(dir).pid || exit 1
            sed 's/.*) //' /proc/$(cat \(dir).pid)/stat | cut -d' ' -f5 > \(report)
            SH
            chown \(User.alice.name): \(probe); rm -f \(report)
            """)
        let restore = Shell.user(.alice, "script -qec 'sh \(probe)' /dev/null")
        #expect(restore.status == 0, "\(restore)")
        #expect(recordedJob(dir) != nil, "the restored job is recorded")
        #expect(lines(report) == ["0"], "the restored root has no controlling terminal (tty_nr): \(lines(report)), \(restore)")
    }
}

/// Figures the attack loops measured, for the closing note (stderr of the test run).
enum Kernel {
    static func record(_ line: String) { FileHandle.standardError.write(Data("figure: \(line)\n".utf8)) }
}
