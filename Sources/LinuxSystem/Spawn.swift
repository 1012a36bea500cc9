import CSystem
import Glibc

/// The caller's umask, ignored signals, signal mask and resource limits as
/// they were when the helper started (saved by the start-up constructor
/// before it changed any of them). A job gets them back.
public struct CallerState: Sendable {
    let raw: chs_caller_state
    public init(_ raw: chs_caller_state) { self.raw = raw }
    public var umask: UInt32 { UInt32(raw.umask_value) }
}

/// How a child is set up between fork and exec (CSystem/spawn.c,
/// `chs_child_exec`, one checked step each).
public struct ChildSpec: Sendable {
    public var arguments: [String]
    public var environment: [String]
    /// Raised as ambient capabilities just before exec; each must already be
    /// permitted and inheritable (only Privileges arranges that).
    public var ambient: CapabilitySet = .none
    public var dropCapabilities = false
    public var noNewPrivileges = true
    public var parentDeathSignal: Signal? = .kill
    public var newSession = false
    public var umask: UInt32 = 0o077
    /// chdir("/") before exec: a program holding a capability must not be
    /// able to leave a core file where the caller can read it.
    public var workingDirectoryRoot = false
    /// What the child's descriptors 0-2 are.
    public enum StandardIO: Sendable {
        /// The parent's.
        case inherited
        /// stdin from /dev/null, stdout and stderr to the parent's stderr (criu).
        case toStandardError
        /// All three /dev/null.
        case silent
    }
    public var stdio: StandardIO = .inherited
    /// The job: the caller's signals, limits and umask instead of a reset.
    public var callerState: CallerState? = nil

    public init(arguments: [String], environment: [String]) {
        self.arguments = arguments
        self.environment = environment
    }

    func nullStdio(output: Int32) -> Int32 {
        switch stdio {
        case .inherited: return 0
        case .toStandardError: return 0b001
        case .silent: return output >= 0 ? 0b101 : 0b111
        }
    }

    /// Calls `body` with the C form of this spec; the strings live until it returns.
    func withC<T>(program: Int32, passing: Int32?, output: Int32 = -1, _ body: (inout chs_child) -> T) -> T {
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        let caps = ambient.numbers
        let passed: [Int32] = passing.map { [$0] } ?? []
        var state = callerState?.raw ?? chs_caller_state()
        let hasState = callerState != nil
        return argv.withUnsafeBufferPointer { argvBuffer in
            envp.withUnsafeBufferPointer { envBuffer in
                caps.withUnsafeBufferPointer { capBuffer in
                    passed.withUnsafeBufferPointer { fdBuffer in
                        withUnsafePointer(to: &state) { statePointer in
                            var child = chs_child(
                                exec_fd: program, argv: argvBuffer.baseAddress, envp: envBuffer.baseAddress,
                                pass_fds: fdBuffer.baseAddress, pass_count: Int32(fdBuffer.count),
                                stdin_fd: -1, stdout_fd: output >= 0 ? output : (stdio == .toStandardError ? 2 : -1), stderr_fd: -1,
                                ambient_caps: capBuffer.baseAddress, ambient_count: Int32(capBuffer.count),
                                drop_capabilities: dropCapabilities ? 1 : 0, no_new_privs: noNewPrivileges ? 1 : 0,
                                parent_death_signal: parentDeathSignal?.rawValue ?? 0, new_session: newSession ? 1 : 0,
                                umask_value: mode_t(umask), null_stdio: nullStdio(output: output),
                                caller: hasState ? statePointer : nil, reopen_stdio: 0,
                                chdir_root: workingDirectoryRoot ? 1 : 0)
                            return body(&child)
                        }
                    }
                }
            }
        }
    }
}

/// A step of the child set-up, the reaper or the supervisor that failed.
public struct StartFailure: Error, Sendable, CustomStringConvertible {
    public var step: Int32
    public var errno: Errno

    init(_ failure: chs_failure) {
        step = failure.step
        errno = Errno(failure.error)
    }

    public var stepName: String {
        let names: [Int32: String] = [
            Int32(CHS_STEP_SIGNALS.rawValue): "signals", Int32(CHS_STEP_PARENT_DEATH_SIGNAL.rawValue): "parent death signal",
            Int32(CHS_STEP_SESSION.rawValue): "new session", Int32(CHS_STEP_DESCRIPTORS.rawValue): "descriptors",
            Int32(CHS_STEP_LIMITS.rawValue): "resource limits", Int32(CHS_STEP_DROP_CAPABILITIES.rawValue): "dropping capabilities",
            Int32(CHS_STEP_NO_NEW_PRIVS.rawValue): "no_new_privs", Int32(CHS_STEP_AMBIENT_CAPABILITIES.rawValue): "ambient capabilities",
            Int32(CHS_STEP_EXEC.rawValue): "exec", Int32(CHS_STEP_MOUNT_PROC.rawValue): "mounting /proc",
            Int32(CHS_STEP_LAST_PID.rawValue): "ns_last_pid", Int32(CHS_STEP_FORK.rawValue): "fork",
            Int32(CHS_STEP_ENTER_MOUNT_NAMESPACE.rawValue): "entering the job's mount namespace",
            Int32(CHS_STEP_ENTER_PID_NAMESPACE.rawValue): "entering the job's PID namespace",
            Int32(CHS_STEP_SUBREAPER.rawValue): "becoming a subreaper", Int32(CHS_STEP_PIPE.rawValue): "pipe",
            Int32(CHS_STEP_LOOPBACK_UP.rawValue): "bringing up the job's loopback",
            Int32(CHS_STEP_ENTER_NETWORK_NAMESPACE.rawValue): "entering the job's network namespace",
        ]
        return names[step] ?? "step \(step)"
    }

    /// The exec itself failed (the program is missing or not executable).
    public var isExec: Bool { step == Int32(CHS_STEP_EXEC.rawValue) }

    public var description: String { "\(stepName): \(errno)" }
}

public enum Spawn {
    /// fork + exec of `program` (an O_PATH descriptor), set up as `spec`
    /// says, with `passing` as descriptor 3. Returns the child's pidfd.
    public static func start(_ spec: ChildSpec, program: borrowing FileDescriptor,
                             passing: borrowing FileDescriptor) throws(StartFailure) -> PidFD {
        try start(spec, program: program.rawValue, passing: passing.rawValue)
    }

    /// The same without a descriptor 3, stdout to `output`.
    public static func start(_ spec: ChildSpec, program: borrowing FileDescriptor,
                             output: borrowing FileDescriptor) throws(StartFailure) -> PidFD {
        try start(spec, program: program.rawValue, passing: nil, output: output.rawValue)
    }

    static func start(_ spec: ChildSpec, program: Int32, passing: Int32?, output: Int32 = -1) throws(StartFailure) -> PidFD {
        var failure = chs_failure(step: 0, error: 0)
        let pid = spec.withC(program: program, passing: passing, output: output) { child in sys_spawn(&child, &failure) }
        guard pid > 0 else { throw StartFailure(failure) }
        do { return try PidFD(pid: pid) } catch {
            _ = try? wait(pid)
            throw StartFailure(chs_failure(step: Int32(CHS_STEP_FORK.rawValue), error: error.errno.rawValue))
        }
    }

    /// Waits for a child, retrying on EINTR.
    public static func wait(_ pid: Int32) throws(SystemError) -> ExitStatus {
        var status: Int32 = 0
        guard sys_waitpid(pid, &status, __WALL) == pid else { throw SystemError("waitpid", String(pid)) }
        return ExitStatus(waitStatus: status)
    }

    /// Waits for `child`, forwarding SIGTERM, SIGINT and SIGHUP to the
    /// process `forwardTo` pins. nil when `timeoutMilliseconds` passed first.
    public static func waitForwarding(_ child: Int32, forwardTo: borrowing PidFD,
                                      timeoutMilliseconds: Int = -1) -> ExitStatus? {
        guard let status = sys_wait_forwarding(child, forwardTo.rawValue, timeoutMilliseconds) else { return nil }
        return ExitStatus(waitStatus: status)
    }
}
