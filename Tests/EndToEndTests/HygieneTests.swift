import Foundation
import Testing

/// Defences 3 and 6: what reaches criu. The probe installation's "criu"
/// records its argv, environment, capabilities, descriptors and signal state.
@Suite("hygiene and what criu is handed", .serialized, .enabled(if: E2E.enabled))
struct HygieneTests {
    /// Runs the probe helper's dump on a job of alice's; returns the probe's record.
    func probeDump(launcher: String = "", environment: String = "") -> (Run, [String], Job?) {
        Probe.reset(.alice)
        let dir = User.alice.scratch("probe")
        guard let job = Job.start(.alice, "\(E2E.bin)/ch-count", output: "\(User.alice.home)/e2e/probe.out") else { return (Run(status: -1, stdout: "", stderr: ""), [], nil) }
        let run = Shell.root("\(launcher.isEmpty ? "setpriv --reuid=\(User.alice.name) --regid=\(User.alice.name) --init-groups --" : launcher) env -i \(environment) \(E2E.probeHelper) dump --pid \(job.pid) --images-dir \(dir) --leave-running")
        return (run, Probe.report(for: .alice), job)
    }

    @Test("criu gets a whitelisted argv with --no-default-config, PATH alone, exactly cap_checkpoint_restore, fds 0-3")
    func whatCriuGets() throws {
        let (run, report, job) = probeDump(environment: "LD_PRELOAD=\(E2E.bin)/preload-marker.so CRIU_CONFIG_FILE=/tmp/evil.conf HOME=/tmp/evilhome CRIU_LIBS_DIR=/tmp/plugins XDG_RUNTIME_DIR=/tmp/x SWIFT_DEBUG_FAILED_TYPE_LOOKUP=1 TZ=:/etc/shadow ICU_DATA=/tmp PATH=/tmp/evilpath CR_IP_TOOL=/tmp/ip")
        defer { job?.kill() }
        let pid = try #require(job?.pid)
        #expect(report.filter { $0.hasPrefix("env=") } == ["env=PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "\(run)")
        let argv = report.filter { $0.hasPrefix("argv[") }.map { String($0.split(separator: "=", maxSplits: 1)[1]) }
        #expect(Array(argv.prefix(10)) == ["criu", "dump", "--no-default-config", "--unprivileged", "-t", "\(pid)", "-D", "/proc/self/fd/3", "-o", "dump.log"])
        #expect(Array(argv.dropFirst(10).prefix(4)) == ["--file-locks", "--ext-unix-sk", "--ghost-limit", "67108864"], "\(argv)")
        #expect(Set(argv.dropFirst(14)).isSubset(of: ["--shell-job", "--leave-running", "--leave-stopped"]), "\(argv)")
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
            #expect(report.contains("\(set):\t0000010000000000"), "\(set) \(report)")
        }
        #expect(report.contains("NoNewPrivs:\t1"))
        // criu is dumpable while it holds its capability, and the caller can
        // raise its core limit: its working directory is not the caller's.
        #expect(report.contains("cwd=/"), "\(report.filter { $0.hasPrefix("cwd=") })")
        // (the probe's own report file aside)
        let fds = report.filter { $0.hasPrefix("fd=") && !$0.contains("/tmp/criu-probe") }.map { $0.split(separator: " ")[0] }
        #expect(fds.sorted() == ["fd=0", "fd=1", "fd=2", "fd=3"])
        #expect(report.contains { $0.hasPrefix("fd=3 ") && $0.contains("/e2e/probe/g000001.partial") })
        // The helper itself: not dumpable (its /proc files are root's), no core dumps.
        #expect(report.contains("parent-fd-owner=0"))
        #expect(report.contains { $0.hasPrefix("parent-limit=Max core file size") && $0.contains(" 0 ") })
        #expect(!FileManager.default.fileExists(atPath: "/tmp/preload-marker"))
    }

    @Test("blocked or ignored signals and an extra inherited descriptor do not reach criu")
    func signalsAndDescriptorsReset() {
        let (_, report, job) = probeDump(launcher: "\(E2E.bin)/ch-launch --user \(User.alice.uid):\(User.alice.uid) --block-signals --extra-fd --core-limit --")
        defer { job?.kill() }
        #expect(report.contains("SigBlk:\t0000000000000000"), "\(report)")
        #expect(report.contains("SigIgn:\t0000000000000000"))
        #expect(!report.contains { $0.hasPrefix("fd=7") })
        #expect(report.contains { $0.hasPrefix("parent-limit=Max core file size") && $0.contains(" 0 ") })
    }

    @Test("with descriptors 0-2 closed the helper still works and criu's 0-2 are valid")
    func closedStandardDescriptors() {
        let (_, report, job) = probeDump(launcher: "\(E2E.bin)/ch-launch --user \(User.alice.uid):\(User.alice.uid) --close-stdio --")
        defer { job?.kill() }
        #expect(report.contains { $0.hasPrefix("argv[0]=criu") }, "\(report)")
        #expect(report.contains("fd=0 /dev/null"))
    }

    @Test("hostile resource limits: soft ones are raised and the request works; hard ones too low are refused (69), audited, nothing done")
    func hostileLimits() throws {
        let job = try #require(Job.start(.alice, "\(E2E.bin)/ch-count", output: "\(User.alice.home)/e2e/limits.out"))
        defer { job.kill() }
        // Soft limits only (prlimit SOFT:): a file size of 1 byte would kill
        // the helper with SIGXFSZ at its first log line, 5 descriptors would
        // run out before criu starts.
        let soft = User.alice.scratch("limits-soft")
        let raised = Shell.user(.alice, "prlimit --fsize=1: --nofile=5: --stack=200000: \(E2E.helper) dump --pid \(job.pid) --images-dir \(soft) --leave-running")
        #expect(raised.status == 0, "\(raised)")
        for limit in ["--fsize=1", "--nofile=5", "--stack=200000"] {
            let dir = User.alice.scratch("limits-hard")
            let audit = AuditLog.mark()
            let run = Shell.user(.alice, "prlimit \(limit) \(E2E.helper) dump --pid \(job.pid) --images-dir \(dir)")
            #expect(run.status == 69, "\(limit): \(run)")
            // (With a hard file size limit of 1 byte, the line cannot be
            // written to the test's stderr file: its exit code and audit
            // record still say it.)
            if limit != "--fsize=1" {
                #expect(run.message.hasPrefix("criu-helper: unavailable: resource limits too low"), "\(limit): \(run.message)")
            }
            #expect(!FileManager.default.fileExists(atPath: dir), "\(limit): nothing done")
            #expect(!audit.records(containing: "resource limits too low").isEmpty, "\(limit): audited")
        }
    }

    @Test("argc 0 is refused (exit 64) and audited")
    func argcZero() {
        let audit = AuditLog.mark()
        let run = Shell.user(.alice, "\(E2E.bin)/ch-argv0 \(E2E.helper)")
        #expect(run.status == 64, "\(run)")
        #expect(run.message == "criu-helper: usage error: called without argv[0] (see criu-helper --help)")
        let records = audit.records(containing: "called without argv[0]")
        #expect(records.count == 1 && records[0].contains("op=usage") && records[0].contains("res=failed"))
    }
}
