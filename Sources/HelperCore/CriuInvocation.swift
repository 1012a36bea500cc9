import CapabilityGuard

/// criu's whole command line, built here from typed values and a fixed
/// whitelist of options. No text from the caller reaches it: the PID is a
/// number the helper parsed and checked, the images directory is
/// /proc/self/fd/3 of a directory the helper opened and checked.
///
/// Every invocation starts with `--no-default-config` (criu would otherwise
/// read /etc/criu/default.conf and ~/.criu/default.conf) and `--unprivileged`
/// (criu >= 4 requires it for a non-root uid).
public struct CriuInvocation: Equatable, Sendable {
    public var arguments: [String]
    /// Raised as ambient capabilities in criu, and nothing else.
    public var capabilities: CapabilitySet
    /// Name of criu's log inside the images directory.
    public var logName: String

    /// The only environment criu gets. criu reads CRIU_CONFIG_FILE, HOME,
    /// CRIU_LIBS_DIR, XDG_RUNTIME_DIR and more with getenv, and runs helper
    /// programs through PATH.
    public static let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]

    /// The images directory is always descriptor 3 in criu.
    public static let imagesDescriptor: Int32 = 3
    static let imagesPath = "/proc/self/fd/3"

    /// What criu needs, measured on Linux 6.18 with criu 4.1.1 (README,
    /// "Capabilities"): CAP_CHECKPOINT_RESTORE alone dumps and restores a
    /// tree of the caller's own dumpable, capability-free tasks; CAP_SYS_ADMIN
    /// is added only to restore a terminal. criu never gets CAP_SYS_PTRACE:
    /// without it the kernel itself refuses to let criu seize a task that is
    /// not the caller's, not dumpable, or holds capabilities — the same
    /// conditions the tree check tests, enforced again at the moment criu
    /// freezes the tree, so nothing can change in between.
    public static var dumpCapabilities: CapabilitySet { .checkpointRestore }
    public static func restoreCapabilities(terminal: Bool) -> CapabilitySet {
        terminal ? [.checkpointRestore, .sysAdmin] : .checkpointRestore
    }
    public static var checkCapabilities: CapabilitySet { .checkpointRestore }

    static let common = ["--no-default-config", "--unprivileged"]

    /// `criu dump` of the tree rooted at `pid` into descriptor 3.
    ///
    /// criu never kills the tree itself: without `leaveRunning` it leaves
    /// the tasks stopped (`--leave-stopped`), and the helper kills them only
    /// once the generation passed its check and was committed. A check that
    /// fails then resumes the job instead of losing it, and a job in its own
    /// PID namespace cannot take criu (which runs in there) down with it.
    public static func dump(pid: Int32, shellJob: Bool, leaveRunning: Bool,
                            trackMemory: Bool = false, parentDirectory: String? = nil) -> CriuInvocation {
        var args = ["criu", "dump"] + common + ["-t", String(pid), "-D", imagesPath, "-o", "dump.log"]
        if shellJob { args.append("--shell-job") }
        args.append(leaveRunning ? "--leave-running" : "--leave-stopped")
        if trackMemory { args.append("--track-mem") }
        if let parent = parentDirectory {
            precondition(Generation.isValidName(parent), "parent must be a generation name")
            args += ["--prev-images-dir", "../" + parent]
        }
        return CriuInvocation(arguments: args, capabilities: dumpCapabilities, logName: "dump.log")
    }

    /// `criu restore`, detached, tasks left stopped for the helper to check.
    public static func restore(shellJob: Bool, terminal: Bool) -> CriuInvocation {
        var args = ["criu", "restore"] + common
            + ["-D", imagesPath, "-o", "restore.log", "--restore-detached", "--leave-stopped", "--pidfile", "restore.pid"]
        if shellJob || terminal { args.append("--shell-job") }
        return CriuInvocation(arguments: args, capabilities: restoreCapabilities(terminal: terminal), logName: "restore.log")
    }

    /// `criu check`, as `criu-helper check` runs it.
    public static func check() -> CriuInvocation {
        CriuInvocation(arguments: ["criu", "check"] + common, capabilities: checkCapabilities, logName: "")
    }

    /// `criu --version`, run without capabilities.
    public static func version() -> CriuInvocation {
        CriuInvocation(arguments: ["criu", "--version"], capabilities: [], logName: "")
    }
}
