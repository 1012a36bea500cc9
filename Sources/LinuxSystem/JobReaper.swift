import CSystem
import Glibc

/// The reaper of a job's namespaces, from the helper's side: PID 1 of new
/// PID and mount namespaces (CSystem/reaper.c), and the protocol with it.
///
///   helper                      reaper (PID 1 inside)
///   clone(NEWPID|NEWNS   --->   mount /proc, ns_last_pid, (NEWNET) lo up,
///         [|NEWNET])             fork the child,
///                               drop every capability
///   started()            <---   started: the child's PID, or the failed step
///   (restore only)
///   criuEnded()          <---   criu's exit code
///   keep() / kill()      --->   verdict: keep the restored root (and detach)
///                        <---   kept (only then may the helper exit)
///
/// Then the reaper reaps orphans, ends any child holding a capability, and
/// exits with the job's root's status.
public final class JobReaper {
    public enum Role { case runsJob, runsCriu }

    /// The reaper's PID as the helper sees it, pinned.
    public let pidfd: PidFD
    public var pid: Int32 { pidfd.pid }
    /// The child (the job, or criu) as numbered inside the namespace.
    public let childInside: Int32
    let report: FileDescriptor
    /// The verdict's write end (the `run` reaper never reads it).
    let control: FileDescriptor

    init(pidfd: consuming PidFD, childInside: Int32, report: consuming FileDescriptor, control: consuming FileDescriptor) {
        self.pidfd = pidfd
        self.childInside = childInside
        self.report = report
        self.control = control
    }

    /// Clones the reaper for `run`: its child is the job (execvp through the
    /// job's own PATH). CAP_SYS_ADMIN must be effective, and CAP_NET_ADMIN
    /// for a `privateNetwork` (Privileges).
    public static func startJob(_ child: ChildSpec, lastPID: Int32, privateNetwork: Bool) throws(StartFailure) -> JobReaper {
        try start(.runsJob, child: child, program: -1, passing: nil, lastPID: lastPID, privateNetwork: privateNetwork)
    }

    /// Clones the reaper for `restore`: its child is criu (`program`, an
    /// O_PATH descriptor) with `passing` as descriptor 3. CAP_SYS_ADMIN must
    /// be effective (and CAP_NET_ADMIN for a `privateNetwork`) and criu's
    /// capability inheritable (Privileges).
    public static func startCriu(_ child: ChildSpec, program: borrowing FileDescriptor, passing: borrowing FileDescriptor,
                                 lastPID: Int32, privateNetwork: Bool) throws(StartFailure) -> JobReaper {
        try start(.runsCriu, child: child, program: program.rawValue, passing: passing.rawValue, lastPID: lastPID,
                  privateNetwork: privateNetwork)
    }

    static func start(_ role: Role, child: ChildSpec, program: Int32, passing: Int32?,
                      lastPID: Int32, privateNetwork: Bool) throws(StartFailure) -> JobReaper {
        func failure(_ step: chs_child_step, _ errno: Errno = .current) -> StartFailure {
            StartFailure(chs_failure(step: Int32(step.rawValue), error: errno.rawValue))
        }
        guard let reportPipe = try? FileDescriptor.makePipe(), let controlPipe = try? FileDescriptor.makePipe() else {
            throw failure(CHS_STEP_PIPE)
        }
        let reportWrite = reportPipe.write.rawValue
        let controlRead = controlPipe.read.rawValue
        let roleNumber = Int32(role == .runsJob ? CHS_REAPER_RUNS_JOB.rawValue : CHS_REAPER_RUNS_CRIU.rawValue)
        let pid: pid_t = child.withC(program: program, passing: passing) { (spec: inout chs_child) -> pid_t in
            var start = chs_reaper_start(role: roleNumber, child: spec, last_pid: lastPID,
                                         private_network: privateNetwork ? 1 : 0,
                                         report_fd: reportWrite, control_fd: controlRead)
            return sys_reaper_clone(&start)
        }
        guard pid > 0 else { throw failure(CHS_STEP_FORK) }
        // The reaper has its own copies now; the helper keeps the report's
        // read end and the verdict's write end.
        let report = reportPipe.readEnd()
        let control = controlPipe.writeEnd()
        let pidfd: PidFD
        do { pidfd = try PidFD(pid: pid) } catch {
            _ = try? Spawn.wait(pid)
            throw failure(CHS_STEP_FORK, error.errno)
        }
        var started = chs_reaper_started()
        guard Self.read(&started, from: report, milliseconds: 60_000) else {
            try? pidfd.send(.kill)
            _ = try? Spawn.wait(pid)
            throw failure(CHS_STEP_FORK, Errno(EPIPE))
        }
        guard started.failure.step == 0 else {
            _ = try? Spawn.wait(pid)
            throw StartFailure(started.failure)
        }
        return JobReaper(pidfd: pidfd, childInside: started.child, report: report, control: control)
    }

    public enum CriuEnd: Equatable {
        case exited(Int32)
        /// criu did not end within the timeout.
        case timedOut
        /// `stalled` said to give up, and why.
        case stalled(String)
    }

    /// Restore: how criu ended, waiting at most `milliseconds` (the caller
    /// then kills the namespace) and asking `stalled` every
    /// `sliceMilliseconds` while criu runs whether to stop waiting before
    /// that (what stands still, or nil).
    public func criuEnded(milliseconds: Int, checkingEvery sliceMilliseconds: Int, stalled: () -> String?) -> CriuEnd {
        let deadline = Kernel.monotonicNanoseconds + UInt64(max(milliseconds, 0)) * 1_000_000
        while true {
            let now = Kernel.monotonicNanoseconds
            guard now < deadline else { return .timedOut }
            let left = Int((deadline - now) / 1_000_000)
            if report.waitReadable(milliseconds: max(min(left, sliceMilliseconds), 1)) {
                var ended = chs_reaper_criu_ended()
                return Self.read(&ended, from: report, milliseconds: max(left, 1)) ? .exited(ended.exit_code) : .timedOut
            }
            if let stall = stalled() { return .stalled(stall) }
        }
    }

    /// Restore: keeps what criu restored, with `root` (inside) as the job's
    /// root; `detach`: the namespace outlives the helper. Returns once the
    /// reaper has carried it out (false when it did not say so in time).
    public func keep(root: Int32, detach: Bool) -> Bool {
        var verdict = chs_reaper_verdict(verdict: Int32(CHS_VERDICT_KEEP), root: root, detach: detach ? 1 : 0)
        let sent = withUnsafeBytes(of: &verdict) { sys_write(control.rawValue, $0) } == MemoryLayout<chs_reaper_verdict>.size
        var kept = chs_reaper_kept()
        return sent && Self.read(&kept, from: report, milliseconds: 10_000) && kept.ok == 1
    }

    /// Ends the namespace and everything in it (SIGKILL to its PID 1), and
    /// reaps the reaper.
    public func kill() {
        try? pidfd.send(.kill)
        _ = try? Spawn.wait(pidfd.pid)
    }

    /// Reads one message of `T`, waiting at most `milliseconds`.
    static func read<T>(_ value: inout T, from fd: borrowing FileDescriptor, milliseconds: Int) -> Bool {
        let size = MemoryLayout<T>.size
        let deadline = Kernel.monotonicNanoseconds + UInt64(max(milliseconds, 0)) * 1_000_000
        var bytes: [UInt8] = []
        while bytes.count < size {
            let left = Int((deadline &- Kernel.monotonicNanoseconds) / 1_000_000)
            guard Kernel.monotonicNanoseconds < deadline, fd.waitReadable(milliseconds: max(left, 1)) else { return false }
            guard let chunk = try? fd.readSome(size - bytes.count), !chunk.isEmpty else { return false }
            bytes += chunk
        }
        withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes) }
        return true
    }
}
