import LinuxSystem

/// criu's whole command line, built here from typed values and a fixed
/// whitelist of options. No text from the caller reaches it: the PID is a
/// number the helper parsed and checked, the images directory is
/// /proc/self/fd/3 of a directory the helper opened and checked. The
/// capability criu gets is not chosen here at all (Privileges.criuCapabilities).
///
/// Every invocation starts with `--no-default-config` (criu would otherwise
/// read /etc/criu/default.conf and ~/.criu/default.conf) and `--unprivileged`
/// (criu >= 4 requires it for a non-root uid).
public struct CriuInvocation: Equatable, Sendable {
    public var arguments: [String]
    /// Name of criu's log inside the images directory.
    public var logName: String

    /// The only environment criu gets. criu reads CRIU_CONFIG_FILE, HOME,
    /// CRIU_LIBS_DIR, XDG_RUNTIME_DIR and more with getenv, and runs helper
    /// programs through PATH.
    public static let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]

    static let imagesPath = "/proc/self/fd/3"
    static let common = ["--no-default-config", "--unprivileged"]

    /// How criu is started: its argument list and environment, stdin from
    /// /dev/null, stdout and stderr to the helper's stderr.
    var child: ChildSpec {
        var spec = ChildSpec(arguments: arguments, environment: Self.environment)
        spec.stdio = .toStandardError
        return spec
    }

    /// `criu dump` of the tree rooted at `pid` into descriptor 3.
    ///
    /// criu never kills the tree itself: without `leaveRunning` it leaves
    /// the tasks stopped (`--leave-stopped`), and the helper kills them only
    /// once the generation passed its checks and was committed. A check that
    /// fails then resumes the job instead of losing it, and a job in its own
    /// PID namespace cannot take criu (which runs in there) down with it.
    ///
    /// Always with `--file-locks` (a job holding a lock could not be dumped
    /// otherwise; criu restores the locks on files it opened as the caller),
    /// `--ext-unix-sk` (a datagram socket connected to a peer outside the
    /// tree, such as /dev/log, is reconnected by name on restore, as the
    /// caller could connect it) and `--ghost-limit` from the configuration
    /// (the largest deleted file kept in the images).
    public static func dump(pid: Int32, shellJob: Bool, leaveRunning: Bool, ghostLimit: Int64) -> CriuInvocation {
        var args = ["criu", "dump"] + common + ["-t", String(pid), "-D", imagesPath, "-o", "dump.log"]
        args += ["--file-locks", "--ext-unix-sk", "--ghost-limit", String(ghostLimit)]
        if shellJob { args.append("--shell-job") }
        args.append(leaveRunning ? "--leave-running" : "--leave-stopped")
        return CriuInvocation(arguments: args, logName: "dump.log")
    }

    /// `criu restore`, detached, tasks left stopped for the helper to check,
    /// with criu-helper-restore-check (a root-owned program next to the
    /// helper, `check` found it) as its action script: it checks what criu
    /// restored while criu still holds the tasks.
    public static func restore(shellJob: Bool, restoreCheck: String) -> CriuInvocation {
        var args = ["criu", "restore"] + common
            + ["-D", imagesPath, "-o", "restore.log", "--restore-detached", "--leave-stopped", "--pidfile", "restore.pid"]
            + ["--file-locks", "--ext-unix-sk", "--action-script", restoreCheck]
        if shellJob { args.append("--shell-job") }
        return CriuInvocation(arguments: args, logName: "restore.log")
    }

    /// `criu check`, as `criu-helper check` runs it.
    public static func check() -> CriuInvocation {
        CriuInvocation(arguments: ["criu", "check"] + common, logName: "")
    }

    /// `criu --version`, run without capabilities.
    public static func version() -> CriuInvocation {
        CriuInvocation(arguments: ["criu", "--version"], logName: "")
    }
}
