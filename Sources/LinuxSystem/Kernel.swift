import Glibc

/// The calling process: identity, process attributes and small services.
public enum Kernel {
    public static var processID: Int32 { sys_getpid() }

    public struct Identity: Equatable, Sendable {
        public var realUID: UInt32, effectiveUID: UInt32, savedUID: UInt32
        public var realGID: UInt32, effectiveGID: UInt32, savedGID: UInt32
        /// The real gid and the supplementary groups: the gids a task of the
        /// caller may legitimately have.
        public var groups: Set<UInt32>
    }

    public static func identity() -> Identity {
        let u = sys_getresuid()
        let g = sys_getresgid()
        var groups = Set(sys_getgroups())
        groups.insert(g.0)
        return Identity(realUID: u.0, effectiveUID: u.1, savedUID: u.2,
                        realGID: g.0, effectiveGID: g.1, savedGID: g.2, groups: groups)
    }

    public static func setNoNewPrivileges() throws(SystemError) {
        guard sys_set_no_new_privs() == 0 else { throw SystemError("prctl(PR_SET_NO_NEW_PRIVS)") }
    }
    public static var hasNoNewPrivileges: Bool { sys_get_no_new_privs() == 1 }
    /// PR_SET_DUMPABLE 0: the caller can no longer ptrace this process, nor
    /// read its /proc files.
    public static func setNotDumpable() throws(SystemError) {
        guard sys_set_not_dumpable() == 0 else { throw SystemError("prctl(PR_SET_DUMPABLE)") }
    }
    /// A variable of this process's environment (the restore check reads
    /// what criu sets for its action scripts; the helper's environment is
    /// emptied at start-up).
    public static func environmentValue(_ name: String) -> String? {
        guard let value = Glibc.getenv(name) else { return nil }
        return String(cString: value)
    }
    /// Every signal back to SIG_DFL and nothing blocked.
    public static func resetSignals() throws(SystemError) {
        guard sys_reset_signals() == 0 else { throw SystemError("sigprocmask") }
    }


    public static func send(_ signal: Int32, to pid: Int32) -> Bool { sys_kill(pid, signal) == 0 }

    public static var monotonicNanoseconds: UInt64 { sys_clock_monotonic_ns() }
    /// uname -r
    public static var release: String { sys_uname_release() }
    public static var wallClock: (seconds: Int, nanoseconds: Int) { sys_time_now() }
    /// "2026-11-24T19:30:00Z"
    public static func utcTimestamp(_ seconds: Int) -> String { sys_utc_timestamp(seconds) }
    public static func sleep(nanoseconds: UInt64) { sys_nanosleep(nanoseconds) }

    public static func writeError(_ text: String) { sys_write_stderr(text) }
    public static func writeOutput(_ text: String) { sys_write_stdout(text) }
    public static func exit(_ code: Int32) -> Never { sys_exit(code) }
}
