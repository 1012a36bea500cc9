import CSystem
import Glibc

/// How to start a child: the program, its argument list and environment, the
/// descriptors it gets, and the ambient capabilities raised just before exec.
public struct SpawnRequest {
    /// The program, opened with O_PATH and executed with execveat(AT_EMPTY_PATH).
    public var program: Int32
    public var arguments: [String]
    public var environment: [String]
    /// Placed at 3, 4, ... in the child, in this order.
    public var passedDescriptors: [Int32] = []
    /// Capability numbers raised as ambient in the child; each must already be
    /// in the helper's permitted and inheritable sets.
    public var ambientCapabilities: [Int32] = []
    public var noNewPrivileges = true
    public var parentDeathSignal: Int32 = SIGKILL
    public var newSession = false
    public var standardInput: Int32 = -1
    public var standardOutput: Int32 = -1
    public var standardError: Int32 = -1
    public var umask: UInt32 = 0o077

    public init(program: Int32, arguments: [String], environment: [String]) {
        self.program = program
        self.arguments = arguments
        self.environment = environment
    }
}

public enum Spawn {
    /// Forks and execs. The child's set-up runs in C between fork and exec.
    public static func start(_ request: SpawnRequest) throws(SystemError) -> Int32 {
        let argv = request.arguments.map { strdup($0) } + [nil]
        let envp = request.environment.map { strdup($0) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        let result: (pid: pid_t, failedStep: String?) = argv.withUnsafeBufferPointer { argvBuffer in
            envp.withUnsafeBufferPointer { envBuffer in
                request.passedDescriptors.withUnsafeBufferPointer { fds in
                    request.ambientCapabilities.withUnsafeBufferPointer { caps in
                        var attr = chs_spawn_attr(
                            exec_fd: request.program,
                            argv: argvBuffer.baseAddress,
                            envp: envBuffer.baseAddress,
                            pass_fds: fds.baseAddress,
                            pass_count: Int32(fds.count),
                            ambient_caps: caps.baseAddress,
                            ambient_count: Int32(caps.count),
                            no_new_privs: request.noNewPrivileges ? 1 : 0,
                            pdeath_signal: request.parentDeathSignal,
                            new_session: request.newSession ? 1 : 0,
                            stdin_fd: request.standardInput,
                            stdout_fd: request.standardOutput,
                            stderr_fd: request.standardError,
                            umask_value: mode_t(request.umask)
                        )
                        return sys_spawn(&attr)
                    }
                }
            }
        }
        guard result.pid > 0 else {
            throw SystemError("spawn (\(result.failedStep ?? "fork"))", request.arguments.first)
        }
        return result.pid
    }

    /// Waits for a child, retrying on EINTR.
    public static func wait(_ pid: Int32) throws(SystemError) -> ExitStatus {
        var status: Int32 = 0
        guard sys_waitpid(pid, &status, __WALL) == pid else { throw SystemError("waitpid", String(pid)) }
        return ExitStatus(waitStatus: status)
    }

    /// Reaps any child without blocking: (pid, status) or nil when none has ended.
    public static func reapAny() -> (pid: Int32, status: ExitStatus)? {
        var status: Int32 = 0
        let pid = sys_waitpid(-1, &status, WNOHANG | __WALL)
        guard pid > 0 else { return nil }
        return (pid, ExitStatus(waitStatus: status))
    }
}
