import AuditLog
import LinuxSystem
import Privilege

/// `criu-helper check`: tells an administrator whether this installation
/// works and what to fix, one line per item, and exits 0 only if every item
/// passes. It runs before the capability gate so that it can report a
/// broken installation instead of refusing to start.
public enum InstallationCheck {
    struct Item {
        var passed: Bool
        var text: String
    }

    public static func run(arguments: [String]) -> ExitCode {
        guard arguments.count == 2 else {
            Kernel.writeError(HelperFailure.usage("check takes no arguments").description + "\n")
            return .usage
        }
        var items: [Item] = []
        func add(_ passed: Bool, _ text: String) {
            items.append(Item(passed: passed, text: text))
            Kernel.writeOutput("\(passed ? "ok  " : "FAIL") \(text)\n")
        }

        // The binary: capabilities as setcap.sh sets them, root-owned, not writable by others.
        let executable = Startup.executablePath()
        switch Result(catching: { () throws(TrustedFile.Problem) in try TrustedFile.open(executable, .readOnly) }) {
        case .success(let fd):
            let expected = FileCapabilities(permitted: .installed, inheritable: .none, effective: .none)
            let actual = FileCapabilities.read(fd)
            add(actual == expected, "file capabilities of \(executable): \(actual?.description ?? "none") (expected \(expected))")
            let st = try? fd.status()
            add(st.map { $0.owner == 0 && !$0.isGroupOrWorldWritable } ?? false,
                "\(executable) is owned by root and not writable by group or others (mode \(String(st?.permissions ?? 0, radix: 8)))")
        case .failure(let problem):
            add(false, "the binary: \(problem)")
        }

        // What the kernel granted this process.
        let current = try? ProcessCapabilities.current()
        let permitted = current?.permitted ?? .none
        let uid = Kernel.identity().realUID
        if uid == 0 {
            add(true, "running as root: the capability sets below are root's; run check as a user to see theirs")
        } else {
            let missing = CapabilitySet.installed.subtracting(permitted)
            add(missing.isEmpty, missing.isEmpty ? "the kernel granted \(CapabilitySet.installed) (permitted)"
                : "the kernel did not grant \(missing): nosuid mount, no_new_privs set by the caller, or missing setcap")
        }
        add(!permitted.contains(.sysPtrace) || uid == 0, "no cap_sys_ptrace: criu can only seize tasks the caller could trace")

        // The configuration and criu.
        let configPath = Configuration.path(forExecutable: executable)
        var config = Configuration()
        do {
            config = try Configuration.load(from: configPath)
            add(true, "configuration \(configPath): root-owned, valid")
        } catch {
            add(false, error.message)
        }
        add(true, config.multiThreaded == .refuse
            ? "multi-threaded = refuse: tasks with more than one thread are not checkpointed (their restore would lend criu's capability)"
            : "multi-threaded = allow: while criu restores a multi-threaded task, its user can borrow cap_checkpoint_restore (README, \"Multi-threaded tasks\")")
        // Kernel audit: this very check is recorded, before anything runs
        // criu with its capability (a check killed half-way still left it).
        let audit: (passed: Bool, text: String)
        do {
            let trail = try AuditTrail.open()
            let record = AuditRecord(operation: "check", success: true)
            var sent: AuditError? = nil
            if uid != 0, permitted.contains(.auditWrite), let privileges = try? Privileges.takeControlOfWhatIsThere() {
                do throws(AuditError) { try privileges.writeAuditRecord(record, to: trail) } catch { sent = error }
            } else {
                do throws(AuditError) { try trail.send(record) } catch { sent = error }
            }
            audit = (sent == nil, sent.map { "kernel audit: \($0)" } ?? "kernel audit reachable (a USER_CMD record for this check was written)")
        } catch {
            audit = (false, "\(error)\(config.audit == .bestEffort ? " (audit = best-effort: requests go on)" : "")")
        }
        switch Result(catching: { () throws(TrustedFile.Problem) in try TrustedFile.open(config.criu, .pathOnly) }) {
        case .success(let criu):
            add(true, "criu \(config.criu): found, root-owned, every directory above it too")
            let version = criuVersion(criu)
            let major = version.flatMap { Int($0.split(separator: ".").first ?? "") } ?? 0
            add(major >= 4, "criu version \(version ?? "unknown") (4 or later needed: --unprivileged)")
            add(true, networkSockets(criu: version ?? "", kernel: Kernel.release))
            if major >= 4 && uid != 0 && permitted.contains(.checkpointRestore) {
                let ok = criuCheck(criu)
                add(ok, "`criu check` with cap_checkpoint_restore as criu-helper passes it: \(ok ? "looks good" : "failed (run it by hand: criu check --unprivileged)")")
            } else if uid == 0 {
                add(true, "`criu check` skipped as root (run criu-helper check as a user)")
            } else {
                add(false, "`criu check` not run: the helper lacks cap_checkpoint_restore")
            }
        case .failure(let problem):
            add(false, "criu: \(problem)")
        }

        // The restore check criu runs as its action script.
        let restoreCheck = Configuration.restoreCheckPath(forExecutable: executable)
        switch Result(catching: { () throws(TrustedFile.Problem) in try TrustedFile.open(restoreCheck, .pathOnly) }) {
        case .success: add(true, "restore check \(restoreCheck): found, root-owned, every directory above it too")
        case .failure(let problem): add(false, "restore check: \(problem) (restores are refused without it)")
        }

        // Yama would stop criu, which has no CAP_SYS_PTRACE, from seizing jobs.
        if let fd = try? FileDescriptor.open("/proc/sys/kernel/yama/ptrace_scope", .readOnly),
           let text = try? fd.readAll(limit: 16) {
            let scope = String(decoding: text, as: UTF8.self).trimmed()
            add(scope == "0", "Yama ptrace_scope is \(scope) (0 needed: criu seizes jobs it did not start)")
        } else {
            add(true, "Yama is not active")
        }

        add(audit.passed, audit.text)

        return items.allSatisfy(\.passed) ? .done : .unavailable
    }

    /// Whether this criu can checkpoint jobs with network sockets here:
    /// criu before 4.2 cannot dump any inet socket on Linux 6.16 and later
    /// (it asks for SO_PASSCRED, which those kernels refuse on them).
    static func networkSockets(criu: String, kernel: String) -> String {
        let v = criu.split(separator: ".").map { Int($0.prefix { $0.isNumber }) ?? 0 }
        let k = kernel.split(separator: ".").map { Int($0.prefix { $0.isNumber }) ?? 0 }
        let criuNew = v.count >= 2 && (v[0], v[1]) >= (4, 2)
        let kernelNew = k.count >= 2 && (k[0], k[1]) >= (6, 16)
        if criuNew || !kernelNew {
            return "network sockets (TCP listeners, UDP): criu \(criu) can checkpoint them on Linux \(kernel)"
        }
        return "network sockets: criu \(criu) cannot checkpoint them on Linux \(kernel) (6.16 and later need criu 4.2: install/get-criu.sh); jobs with one are not checkpointed"
    }

    /// `criu --version`, without capabilities; the version number or nil.
    static func criuVersion(_ criu: borrowing FileDescriptor) -> String? {
        guard let pipe = try? FileDescriptor.makePipe() else { return nil }
        var spec = CriuInvocation.version().child
        spec.stdio = .silent
        guard let child = try? Spawn.start(spec, program: criu, output: pipe.write) else { return nil }
        let reader = pipe.readEnd()
        let output = (try? reader.readAll(limit: 4096)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        _ = try? Spawn.wait(child.pid)
        for line in output.split(separator: "\n") where line.hasPrefix("Version:") {
            return String(line.dropFirst(8)).trimmed()
        }
        return nil
    }

    /// `criu check --unprivileged` with exactly what dump and restore hand criu.
    static func criuCheck(_ criu: borrowing FileDescriptor) -> Bool {
        // Narrowed to the installed set (not below it: the audit item still needs cap_audit_write).
        guard let privileges = try? Privileges.takeControlOfWhatIsThere(),
              let null = try? FileDescriptor.open("/dev/null", .readWrite) else { return false }
        var spec = CriuInvocation.check().child
        spec.stdio = .silent
        guard let supervisor = try? privileges.startCriu(spec, program: criu, passing: null),
              let status = supervisor.wait(milliseconds: 120_000).status else { return false }
        return status.succeeded
    }
}
