import CSystem
import Glibc

/// A new PID + mount namespace whose init is the helper's reaper
/// (CSystem/namespaces.c). `run` starts a job in one; `restore` runs criu in
/// a fresh one. The reaper's PID outside is `reaper`.
public final class JobNamespace {
    public let reaper: Int32
    /// The job (run) or criu (restore), as numbered inside the namespace.
    public let childInside: Int32
    let report: FileDescriptor
    /// Restore mode: the write end of the decision pipe, -1 otherwise.
    let control: Int32

    init(reaper: Int32, childInside: Int32, report: consuming FileDescriptor, control: Int32) {
        self.reaper = reaper
        self.childInside = childInside
        self.report = report
        self.control = control
    }

    deinit { if control >= 0 { sys_close(control) } }

    /// Starts `arguments` (PATH looked up with `environment`'s PATH) as a
    /// job: own session, no capabilities, no_new_privs, stdio reopened inside
    /// the namespace, PIDs from 301 on. The helper's effective capabilities
    /// must include CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE during the call.
    public static func startJob(arguments: [String], environment: [String]) throws(SystemError) -> JobNamespace {
        try start(mode: Int32(CHS_NS_RUN), program: -1, arguments: arguments, environment: environment,
                  ambient: [], passed: [], stdio: (-1, -1, -1), lastPID: 300)
    }

    /// Starts criu inside a fresh namespace; criu's PID will be `lastPID + 1`.
    public static func startCriu(program: Int32, arguments: [String], environment: [String], ambient: [Int32],
                                 passed: [Int32], stdio: (Int32, Int32, Int32), lastPID: Int32) throws(SystemError) -> JobNamespace {
        try start(mode: Int32(CHS_NS_RESTORE), program: program, arguments: arguments, environment: environment,
                  ambient: ambient, passed: passed, stdio: stdio, lastPID: lastPID)
    }

    static func start(mode: Int32, program: Int32, arguments: [String], environment: [String], ambient: [Int32],
                      passed: [Int32], stdio: (Int32, Int32, Int32), lastPID: Int32) throws(SystemError) -> JobNamespace {
        guard let reportPipe = sys_pipe() else { throw SystemError("pipe") }
        let reportRead = FileDescriptor(adopting: reportPipe.read)
        let reportWrite = FileDescriptor(adopting: reportPipe.write)
        var controlPipe: (read: Int32, write: Int32) = (-1, -1)
        if mode == Int32(CHS_NS_RESTORE) {
            guard let pipe = sys_pipe() else { throw SystemError("pipe") }
            controlPipe = pipe
        }
        // The reaper has its own copies once cloned; the helper keeps only
        // the report's read end and the decision's write end.
        defer { if controlPipe.read >= 0 { sys_close(controlPipe.read) } }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        let reaper: pid_t = argv.withUnsafeBufferPointer { argvBuffer in
            envp.withUnsafeBufferPointer { envBuffer in
                ambient.withUnsafeBufferPointer { caps in
                    passed.withUnsafeBufferPointer { fds in
                        var attr = chs_namespace_attr(
                            mode: mode, exec_fd: program, argv: argvBuffer.baseAddress, envp: envBuffer.baseAddress,
                            ambient_caps: caps.baseAddress, ambient_count: Int32(caps.count),
                            pass_fds: fds.baseAddress, pass_count: Int32(fds.count),
                            stdin_fd: stdio.0, stdout_fd: stdio.1, stderr_fd: stdio.2, last_pid: lastPID,
                            report_fd: reportWrite.rawValue, control_fd: controlPipe.read)
                        return sys_start_namespace(&attr)
                    }
                }
            }
        }
        guard reaper > 0 else { throw SystemError("clone(CLONE_NEWPID|CLONE_NEWNS)") }
        _ = consume reportWrite
        var report = chs_ns_report()
        guard (try? readExactly(reportRead, into: &report)) == true else {
            _ = Spawn.waitQuietly(reaper)
            if controlPipe.write >= 0 { sys_close(controlPipe.write) }
            throw SystemError("namespace start", errno: Errno(EPIPE))
        }
        guard report.error == 0 else {
            _ = Spawn.waitQuietly(reaper)
            if controlPipe.write >= 0 { sys_close(controlPipe.write) }
            let steps = [1: "mount /proc", 2: "ns_last_pid", 3: "drop capabilities", 4: "fork"]
            throw SystemError("namespace start (\(steps[Int(report.step)] ?? "set-up"))", errno: Errno(report.error))
        }
        return JobNamespace(reaper: reaper, childInside: report.child, report: reportRead, control: controlPipe.write)
    }

    /// Restore mode: criu's exit code, once criu has ended.
    public func criuExitCode() throws(SystemError) -> Int32 {
        var code: Int32 = 0
        guard (try? Self.readExactly(report, into: &code)) == true else { throw SystemError("criu status", errno: Errno(EPIPE)) }
        return code
    }

    /// Restore mode: lets the restored job live (the reaper waits for `root`)
    /// or, with `go == false`, ends the namespace and everything in it.
    public func decide(go: Bool, root: Int32 = 0, detach: Bool = false) {
        guard control >= 0 else { return }
        var decision = chs_ns_decision(go: go ? 1 : 0, root: root, detach: detach ? 1 : 0)
        _ = withUnsafeBytes(of: &decision) { sys_write(control, $0) }
    }

    static func readExactly<T>(_ fd: borrowing FileDescriptor, into value: inout T) throws(SystemError) -> Bool {
        let size = MemoryLayout<T>.size
        let bytes = try fd.readExactly(size)
        guard bytes.count == size else { return false }
        withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes) }
        return true
    }
}

extension FileDescriptor {
    /// Reads exactly `count` bytes, fewer only at end of file.
    public func readExactly(_ count: Int) throws(SystemError) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: count)
        while result.count < count {
            let want = count - result.count
            let n = chunk.withUnsafeMutableBytes { sys_read(rawValue, UnsafeMutableRawBufferPointer(rebasing: $0[0..<want])) }
            if n < 0 { throw SystemError("read") }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }
}

extension Spawn {
    /// Starts `request` inside the PID and mount namespaces of the process
    /// `target` pins. Returns a child whose exit status is the program's.
    /// CAP_SYS_ADMIN and CAP_SYS_CHROOT must be effective during the call.
    public static func startInNamespaces(of target: borrowing PidFD, _ request: SpawnRequest) throws(SystemError) -> Int32 {
        let argv = request.arguments.map { strdup($0) } + [nil]
        let envp = request.environment.map { strdup($0) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        let targetFD = target.rawValue
        let result: (pid: pid_t, failedStep: String?) = argv.withUnsafeBufferPointer { argvBuffer in
            envp.withUnsafeBufferPointer { envBuffer in
                request.passedDescriptors.withUnsafeBufferPointer { fds in
                    request.ambientCapabilities.withUnsafeBufferPointer { caps in
                        var attr = chs_spawn_attr(
                            exec_fd: request.program, argv: argvBuffer.baseAddress, envp: envBuffer.baseAddress,
                            pass_fds: fds.baseAddress, pass_count: Int32(fds.count),
                            ambient_caps: caps.baseAddress, ambient_count: Int32(caps.count),
                            no_new_privs: request.noNewPrivileges ? 1 : 0, pdeath_signal: request.parentDeathSignal,
                            new_session: request.newSession ? 1 : 0, stdin_fd: request.standardInput,
                            stdout_fd: request.standardOutput, stderr_fd: request.standardError,
                            umask_value: mode_t(request.umask))
                        return sys_spawn_in_namespaces(targetFD, &attr)
                    }
                }
            }
        }
        guard result.pid > 0 else { throw SystemError("spawn in the job's namespaces (\(result.failedStep ?? "?"))") }
        return result.pid
    }

    /// Waits for `child`, forwarding SIGTERM, SIGINT and SIGHUP to the
    /// process behind `forwardTo` (a pidfd number, -1 for none). nil when
    /// `timeoutMilliseconds` passed first.
    public static func waitForwarding(_ child: Int32, forwardTo: Int32, timeoutMilliseconds: Int = -1) -> ExitStatus? {
        guard let status = sys_wait_forwarding(child, forwardTo, timeoutMilliseconds) else { return nil }
        return ExitStatus(waitStatus: status)
    }

    static func waitQuietly(_ pid: Int32) -> ExitStatus? { try? wait(pid) }
}
