import Foundation
import Testing

/// The end-to-end suite runs only when asked (tests/run.sh sets
/// CRIU_HELPER_E2E=1) and as root: it creates files as the test users and
/// starts their jobs, then runs the real setcap'd helper as them.
enum E2E {
    static let enabled = ProcessInfo.processInfo.environment["CRIU_HELPER_E2E"] == "1" && getuid() == 0
    /// The installation with real criu: CRIU_HELPER_E2E_HELPER picks another
    /// one (tests/package.sh: the package's /usr/bin/criu-helper).
    static let helper = ProcessInfo.processInfo.environment["CRIU_HELPER_E2E_HELPER"] ?? "/usr/local/bin/criu-helper"
    /// Its configuration, where the helper looks for it: PREFIX/etc for
    /// PREFIX/bin, /etc for /usr/bin.
    static let configuration: String = {
        let prefix = URL(fileURLWithPath: helper).deletingLastPathComponent().deletingLastPathComponent().path
        return (prefix == "/usr" ? "" : prefix) + "/etc/criu-helper.conf"
    }()
    /// What reinstalls it, as an upgrade would (run as root in the repository).
    static let reinstall = ProcessInfo.processInfo.environment["CRIU_HELPER_E2E_REINSTALL"] ?? "install/setcap.sh"
    /// The installation whose criu is the probe (tests/support/criu-probe.c).
    static let probeHelper = "/opt/criu-helper-probe/bin/criu-helper"
    /// Real criu, at a site that sets `multi-threaded = allow`.
    static let threadsHelper = "/opt/criu-helper-threads/bin/criu-helper"
    static let bin = ProcessInfo.processInfo.environment["CRIU_HELPER_E2E_BIN"] ?? "/opt/criu-helper-tests/bin"
    /// The two test users: CRIU_HELPER_E2E_USERS="NAME1,NAME2" picks others
    /// (a second suite beside the first, against another installation).
    static let users: [String] = {
        let names = (ProcessInfo.processInfo.environment["CRIU_HELPER_E2E_USERS"] ?? "").split(separator: ",").map(String.init)
        return names.count == 2 ? names : ["chuser1", "chuser2"]
    }()
}

struct User {
    let name: String
    let uid: UInt32
    let home: String

    static let alice = User(E2E.users[0])
    static let bob = User(E2E.users[1])

    init(_ name: String) {
        self.name = name
        let entry = getpwnam(name)
        uid = entry?.pointee.pw_uid ?? 0
        home = entry.map { String(cString: $0.pointee.pw_dir) } ?? "/nonexistent"
    }

    /// A fresh, empty directory in the user's home, owned by them.
    func scratch(_ name: String) -> String {
        let path = "\(home)/e2e/\(name)"
        Shell.root("rm -rf '\(path)'; mkdir -p '\(home)/e2e'; chown \(self.name): '\(home)/e2e'")
        return path
    }
}

/// What a command printed and how it ended.
struct Run: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
    /// The last line of stderr, where the helper's one-line message is.
    var message: String { stderr.split(separator: "\n").last.map(String.init) ?? "" }
}

enum Shell {
    /// Runs `command` with /bin/sh as root.
    @discardableResult
    static func root(_ command: String, timeout: TimeInterval = 120) -> Run {
        execute(["/bin/sh", "-c", command], timeout: timeout)
    }

    /// Runs `command` as `user`: their uid, gid and groups, a clean
    /// environment, in their home directory.
    @discardableResult
    static func user(_ user: User, _ command: String, timeout: TimeInterval = 120) -> Run {
        execute(["/usr/bin/setpriv", "--reuid=\(user.name)", "--regid=\(user.name)", "--init-groups", "--reset-env",
                 "/bin/sh", "-c", "cd && \(command)"], timeout: timeout)
    }

    /// posix_spawn with stdout and stderr to temporary files, stdin from
    /// /dev/null; waits (with a timeout) with waitpid on that one child.
    static func execute(_ argv: [String], timeout: TimeInterval) -> Run {
        let base = NSTemporaryDirectory() + "e2e-\(UUID().uuidString)"
        defer { unlink(base + ".out"); unlink(base + ".err") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, base + ".out", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, base + ".err", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        let variables: [String] = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"]
        let env: [UnsafeMutablePointer<CChar>?] = variables.map { strdup($0) } + [nil]
        defer { env.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, env) == 0 else {
            return Run(status: -1, stdout: "", stderr: "posix_spawn failed")
        }
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(timeout)
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > deadline { kill(pid, SIGKILL) }
            usleep(10_000)
        }
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let stdout = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
        return Run(status: code, stdout: stdout, stderr: stderr)
    }
}

/// A job of a test user: started detached under ch-reaper (which reaps
/// orphans, so no zombie holds a PID), found by a unique marker.
struct Job {
    let user: User
    let pid: Int32

    /// Starts `command` as `user` with no_new_privs in its own session, stdout
    /// to `output`. Returns once the job's root process exists.
    static func start(_ user: User, _ command: String, output: String, noNewPrivs: Bool = true) -> Job? {
        let id = UUID().uuidString.prefix(8)
        let script = "/tmp/e2e-job-\(id).sh", pidfile = "/tmp/e2e-job-\(id).pid"
        try? "exec \(command)\n".write(toFile: script, atomically: true, encoding: .utf8)
        let nnp = noNewPrivs ? "--no-new-privs" : ""
        let switchUser = user.uid == 0 ? "" : "setpriv --reuid=\(user.name) --regid=\(user.name) --init-groups \(nnp)"
        Shell.root("""
            chmod 755 \(script); cd '\(user.home)'; rm -f '\(output)'; touch '\(output)'; chown \(user.name): '\(output)'; setsid \(E2E.bin)/ch-reaper --pidfile \(pidfile) \(switchUser) \
            /bin/sh \(script) >> '\(output)' 2>&1 < /dev/null &
            """)
        defer { Shell.root("rm -f \(script) \(pidfile)") }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: pidfile, encoding: .utf8),
               let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                // The command has been exec'd once the process's command
                // line no longer names the script (setpriv's and sh's did).
                while Date() < deadline {
                    // An unreadable one, or a zombie's: the process has ended
                    // already. An empty one is also what a process in the
                    // middle of an exec shows (its new memory has no
                    // arguments yet): returning then removed the script
                    // before sh had opened it.
                    guard let cmdline = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
                          let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                          !(stat.split(separator: ")").last?.hasPrefix(" Z") ?? true) else { return Job(user: user, pid: pid) }
                    if !cmdline.isEmpty && !cmdline.contains(script) { return Job(user: user, pid: pid) }
                    usleep(10_000)
                }
                return nil
            }
            usleep(20_000)
        }
        return nil
    }

    func kill() { Shell.root("kill -9 \(pid) 2>/dev/null; pkill -9 -P \(pid) 2>/dev/null") }
}

/// Kernel audit records (auditd's log), read from an offset taken before the request.
struct AuditLog {
    static let path = "/var/log/audit/audit.log"
    let offset: UInt64

    static func mark() -> AuditLog {
        let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? UInt64
        return AuditLog(offset: size ?? 0)
    }

    /// USER_CMD records written since the mark that contain `text` (plain or
    /// hex-encoded, as audit_encode_nv_string writes values with spaces).
    func records(containing text: String) -> [String] {
        let hex = text.utf8.map { String(format: "%02X", $0) }.joined()
        // auditd writes behind the kernel; on a busy machine, seconds behind.
        for _ in 0..<400 {
            if let handle = FileHandle(forReadingAtPath: Self.path) {
                try? handle.seek(toOffset: offset)
                let data = handle.readDataToEndOfFile()
                try? handle.close()
                let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
                let found = lines.filter { $0.contains("type=USER_CMD") && ($0.contains(text) || $0.contains(hex)) }
                if !found.isEmpty { return found }
            }
            usleep(50_000)
        }
        return []
    }
}

/// The probe's record of what the helper handed criu.
enum Probe {
    static func report(for user: User) -> [String] {
        ((try? String(contentsOfFile: "/tmp/criu-probe.\(user.uid).txt", encoding: .utf8)) ?? "")
            .split(separator: "\n").map(String.init)
    }
    static func setMode(_ mode: String) { Shell.root("echo '\(mode)' > /etc/criu-probe.mode") }
    static func reset(_ user: User) { Shell.root("rm -f /tmp/criu-probe.\(user.uid).txt /tmp/criu-probe.stray"); setMode("ok") }
}

/// Shell functions for commands that must wait inside one shell (for `$!`):
/// `wait_until 'CONDITION'` polls for up to 60 s (by the clock, not a count: a loaded machine runs fewer polls); `children PID` and
/// `grandchildren PID` list processes by parent (comma-separated);
/// `blocks_term PID` holds once PID blocks SIGTERM, as the helper does while
/// it waits for a job and forwards signals to it.
let shellWaits = """
    wait_until() { end=$(($(date +%s) + 60)); until eval "$1"; do [ "$(date +%s)" -lt $end ] || return 1; sleep 0.05; done; }; \
    children() { pgrep -d, -P "$1"; }; \
    grandchildren() { pgrep -d, -P "$(pgrep -d, -P "$1")"; }; \
    blocks_term() { b=$(awk '/^SigBlk/ {print $2}' /proc/$1/status 2>/dev/null); [ -n "$b" ] && [ $((0x$b & 0x4000)) -ne 0 ]; };
    """

/// Waits until `condition` holds (polling), up to `seconds`.
func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(100_000)
    }
    return condition()
}

/// The last line of a file (a job's counter).
func lastLine(_ path: String) -> String {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").last.map(String.init) ?? ""
}

/// Every line of a file.
func lines(_ path: String) -> [String] {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}

/// The counter a job printed last, as a number.
func counter(_ path: String) -> Int { Int(lastLine(path)) ?? -1 }

/// Starts a counting job of `user`'s under `criu-helper run`, with a fresh
/// images directory and output file named after `name`; returns both once
/// it has counted and `run` has recorded it (nil if it never did). The
/// output of an earlier run of the suite is removed first: homes outlive
/// the suite, and a stale count would pass for this job's.
func startCountingJob(_ name: String, user: User = .alice, command: String = "\(E2E.bin)/ch-count",
                      helper: String = E2E.helper) -> (dir: String, out: String)? {
    let dir = user.scratch(name)
    let out = "\(user.home)/e2e/\(name).out"
    Shell.root("rm -f '\(out)'")
    Shell.user(user, "(\(helper) run --images-dir \(dir) -- \(command) > \(out) 2>&1 &)")
    let started = eventually(20) { counter(out) >= 1 && FileManager.default.fileExists(atPath: "\(dir)/job") }
    return started ? (dir, out) : nil
}

/// The job's reaper and root (outer PIDs), from the images directory's job record.
func recordedJob(_ dir: String) -> (reaper: Int32, root: Int32)? {
    let text = (try? String(contentsOfFile: "\(dir)/job", encoding: .utf8)) ?? ""
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("reaper-pid=") }),
          let reaper = Int32(line.dropFirst(11)) else { return nil }
    let children = Shell.root("cat /proc/\(reaper)/task/*/children").stdout.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    guard let root = children.first else { return nil }
    return (reaper, root)
}

/// Processes of `user` that hold any capability, as "PID NAME CapEff".
func capableProcesses(of user: User) -> [String] {
    var found: [String] = []
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int32(entry) != nil {
        guard let text = try? String(contentsOfFile: "/proc/\(entry)/status", encoding: .utf8) else { continue }
        let fields = Dictionary(text.split(separator: "\n").compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }, uniquingKeysWith: { a, _ in a })
        guard fields["Uid"]?.split(separator: "\t").first == Substring(String(user.uid)) else { continue }
        let caps = ["CapInh", "CapPrm", "CapEff", "CapAmb"].compactMap { fields[$0] }
        if caps.contains(where: { $0 != "0000000000000000" }) {
            found.append("\(entry) \(fields["Name"] ?? "?") \(fields["State"] ?? "?") CapPrm \(fields["CapPrm"] ?? "?")")
        }
    }
    return found
}
