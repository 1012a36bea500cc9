import CSystem
import Glibc

/// The process that runs criu for a dump (CSystem/supervisor.c), from the
/// helper's side. It enters the job's namespaces through descriptors the
/// helper verified, starts criu in a session of its own, and when criu ends
/// (or the helper dies) kills that session and every orphan criu left: no
/// process holding criu's capability outlives the dump.
public final class CriuSupervisor {
    public let pidfd: PidFD
    /// criu's PID as the helper numbers it (also its session and process group).
    public let criu: Int32
    let report: FileDescriptor

    init(pidfd: consuming PidFD, criu: Int32, report: consuming FileDescriptor) {
        self.pidfd = pidfd
        self.criu = criu
        self.report = report
    }

    /// Starts criu (`program`, an O_PATH descriptor, with `passing` as
    /// descriptor 3) in the helper's own namespaces. Its capability must be
    /// inheritable (Privileges).
    public static func start(_ criu: ChildSpec, program: borrowing FileDescriptor,
                             passing: borrowing FileDescriptor) throws(StartFailure) -> CriuSupervisor {
        try start(criu, program: program.rawValue, passing: passing.rawValue, mount: -1, pid: -1)
    }

    /// The same inside the namespaces `mount` and `pid` stand for, whose
    /// PID 1 `reaper` pins: should criu be killed with its parasite still in
    /// the job, the supervisor ends the job through it.
    /// CAP_SYS_ADMIN and CAP_SYS_CHROOT must be effective (Privileges).
    public static func start(_ criu: ChildSpec, program: borrowing FileDescriptor, passing: borrowing FileDescriptor,
                             entering mount: borrowing NamespaceFile, _ pid: borrowing NamespaceFile,
                             _ network: borrowing NamespaceFile, reaper: Int32) throws(StartFailure) -> CriuSupervisor {
        try start(criu, program: program.rawValue, passing: passing.rawValue,
                  mount: mount.descriptor.rawValue, pid: pid.descriptor.rawValue, network: network.descriptor.rawValue,
                  reaper: reaper)
    }

    static func start(_ spec: ChildSpec, program: Int32, passing: Int32, mount: Int32, pid: Int32, network: Int32 = -1,
                      reaper: Int32 = -1) throws(StartFailure) -> CriuSupervisor {
        func failure(_ step: chs_child_step, _ errno: Errno = .current) -> StartFailure {
            StartFailure(chs_failure(step: Int32(step.rawValue), error: errno.rawValue))
        }
        var criu = spec
        // Its own session: the supervisor kills the whole of it afterwards.
        criu.newSession = true
        criu.parentDeathSignal = .kill
        let reportPipe: Pipe
        do { reportPipe = try FileDescriptor.makePipe() } catch { throw failure(CHS_STEP_PIPE) }
        let reportWrite = reportPipe.write.rawValue
        let supervisor: pid_t = criu.withC(program: program, passing: passing) { (child: inout chs_child) -> pid_t in
            var start = chs_supervisor_start(mount_ns_fd: mount, pid_ns_fd: pid, net_ns_fd: network,
                                             job_reaper_pidfd: reaper, criu: child,
                                             report_fd: reportWrite)
            return sys_supervisor_fork(&start)
        }
        guard supervisor > 0 else { throw failure(CHS_STEP_FORK) }
        let report = reportPipe.readEnd()
        let pidfd: PidFD
        do { pidfd = try PidFD(pid: supervisor) } catch {
            _ = try? Spawn.wait(supervisor)
            throw failure(CHS_STEP_FORK, error.errno)
        }
        var started = chs_supervisor_started()
        guard JobReaper.read(&started, from: report, milliseconds: 60_000) else {
            try? pidfd.send(.kill)
            _ = try? Spawn.wait(supervisor)
            throw failure(CHS_STEP_FORK, Errno(EPIPE))
        }
        guard started.failure.step == 0 else {
            _ = try? Spawn.wait(supervisor)
            throw StartFailure(started.failure)
        }
        return CriuSupervisor(pidfd: pidfd, criu: started.criu, report: report)
    }

    /// How criu ended.
    public struct Ending: Sendable {
        /// criu's status; nil when it did not end within the time given (it
        /// was killed, with its session and the supervisor).
        public var status: ExitStatus?
        /// criu was killed with its work still in the job (CriuLeftover),
        /// so the supervisor ended the job.
        public var jobEnded: Bool
        /// What stood still, when criu was ended before the timeout because
        /// its run had stalled.
        public var stall: String?
        /// criu was killed from here (timeout or stall) while it had left
        /// its work in the job (`leftInJob`, asked with criu stopped, just
        /// before the kill): the job cannot run on.
        public var leftInJob = false
    }

    /// How criu ended, once it and everything it left have been ended.
    /// `stalled` is asked every `sliceMilliseconds` while criu runs whether
    /// to end it before the timeout: what stands still, or nil.
    public func wait(milliseconds: Int, checkingEvery sliceMilliseconds: Int = 500, stalled: () -> String? = { nil },
                     leftInJob: () -> Bool = { false }) -> Ending {
        var ended = chs_supervisor_ended()
        let deadline = Kernel.monotonicNanoseconds + UInt64(max(milliseconds, 0)) * 1_000_000
        var done = false
        var stall: String?
        var criuLeftWork = false
        while !done && stall == nil {
            let now = Kernel.monotonicNanoseconds
            guard now < deadline else { break }
            let left = Int((deadline - now) / 1_000_000)
            if report.waitReadable(milliseconds: max(min(left, sliceMilliseconds), 1)) {
                done = JobReaper.read(&ended, from: report, milliseconds: max(left, 1))
                break
            }
            stall = stalled()
        }
        if !done {
            // Timed out, or stalled: criu's session is ended from here.
            // Stopped first, so that what it left in the job stays put while
            // it is looked at: once criu is killed, a task holding its
            // instructions traps at once.
            _ = sys_kill(-criu, Signal.stop.rawValue)
            criuLeftWork = leftInJob()
            _ = sys_kill(-criu, Signal.kill.rawValue)
            try? pidfd.send(.kill)
        }
        _ = try? Spawn.wait(pidfd.pid)
        return Ending(status: done ? ExitStatus(waitStatus: ended.wait_status) : nil, jobEnded: done && ended.job_ended == 1,
                      stall: stall, leftInJob: criuLeftWork)
    }
}

/// What a criu killed in the middle of a dump leaves in a task it had seized
/// (CSystem/leftovers.c). Each makes the task trap (SIGTRAP) or fault
/// (SIGSEGV) as soon as it runs without criu: such a job cannot run on.
public enum CriuLeftover: Sendable, Equatable {
    /// criu's parasite is mapped (/memfd:CRIUMFD).
    case parasite
    /// criu's system-call instructions stand at the start of an executable
    /// mapping, where criu makes the task run each system call it needs.
    case systemCallInstructions
    /// A stopped thread stands outside every executable mapping: criu's
    /// parasite had unmapped itself and criu had not yet put the thread's
    /// registers back. The thread faults (SIGSEGV) as soon as it runs.
    case strandedThread

    /// What task `pid` holds, read under the /proc `proc` is a descriptor
    /// of; nil for nothing (or a task that cannot be read, such as one gone).
    public static func find(in pid: Int32, proc: borrowing FileDescriptor) -> CriuLeftover? {
        switch sys_criu_left_in_task(proc.rawValue, pid) {
        case Int32(CHS_CRIU_PARASITE): .parasite
        case Int32(CHS_CRIU_SYSCALL_CODE): .systemCallInstructions
        case Int32(CHS_CRIU_STRANDED_THREAD): .strandedThread
        default: nil
        }
    }
}
