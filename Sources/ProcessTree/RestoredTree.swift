import Credentials
import LinuxSystem

/// What the kernel really restored, read back from /proc while criu left
/// every task stopped. Whatever the images said, a task whose credentials
/// break the rule, a descriptor on a kernel interface, or a task that was
/// not in the images is a refusal, and everything restored is killed before
/// any of it runs.
public final class RestoredTree {
    public struct Expected: Sendable {
        public var pid: Int32
        public var threads: [Int32]
        /// The task was stopped when it was dumped: it stays stopped.
        public var wasStopped: Bool
        /// The job-control signal it was stopped by, which it is stopped by
        /// again (criu leaves every task stopped by SIGSTOP).
        public var stopSignal: Int32?
        public init(pid: Int32, threads: [Int32], wasStopped: Bool = false, stopSignal: Int32? = nil) {
            self.stopSignal = stopSignal
            self.pid = pid
            self.threads = threads
            self.wasStopped = wasStopped
        }
    }

    /// Pins by PID outside the namespace.
    public let pins: [Int32: any ProcessPin]
    /// PID inside the namespace -> PID outside.
    public let outerPIDs: [Int32: Int32]
    /// Outside PIDs of the tasks that were running when they were dumped.
    let toResume: [Int32]
    /// Processes stopped by a job-control signal when they were dumped.
    let toStopAgain: [(pid: Int32, signal: Int32)]

    init(pins: [Int32: any ProcessPin], outerPIDs: [Int32: Int32], toResume: [Int32],
         toStopAgain: [(pid: Int32, signal: Int32)] = []) {
        self.toStopAgain = toStopAgain
        self.pins = pins
        self.outerPIDs = outerPIDs
        self.toResume = toResume
    }

    /// Walks everything below `reaper` (the namespace's init, seen from
    /// outside), pins and checks every process and thread and its open
    /// descriptors, and compares the set with `expected` (PIDs as the images
    /// number them, inside).
    public static func verify(_ expected: [Expected], below reaper: Int32, in proc: ProcFilesystem,
                              rule: CredentialRule) -> RestoreCheck {
        var pins: [Int32: any ProcessPin] = [:]
        var outer: [Int32: Int32] = [:]
        var toResume: [Int32] = []
        var toStopAgain: [(pid: Int32, signal: Int32)] = []
        let wanted = Dictionary(uniqueKeysWithValues: expected.map { ($0.pid, $0) })
        var procFiles: [(holder: Int32, file: ProcessFilePath)] = []
        var queue: [Int32]
        do { queue = try proc.children(of: reaper) } catch {
            return .failed(RestoreCheckFailure(pins: [:], reason: "cannot list the restored tasks: \(error)"))
        }
        func fail(_ reason: String) -> RestoreCheck { .failed(RestoreCheckFailure(pins: pins, reason: reason)) }
        var next = 0
        while next < queue.count {
            let pid = queue[next]
            next += 1
            do {
                let pin = try proc.pin(pid)
                pins[pid] = pin
                let status = try proc.status("\(pid)")
                guard pin.isAlive else { return fail("restored task \(pid) vanished") }
                let inner = status.innermostPID
                guard let want = wanted[inner] else {
                    return fail("process \(inner) was restored but is not in the images")
                }
                outer[inner] = pid
                // A zombie in the images (no threads) is restored as one: it
                // can never run, and its credentials are whatever it died
                // with. Anything but a zombie is refused.
                if want.threads.isEmpty {
                    guard status.isZombie else { return fail("restored task \(inner) should be a zombie, but is in state \(status.state)") }
                    continue
                }
                var present: Set<Int32> = []
                for tid in try proc.threads(of: pid) {
                    let path = tid == pid ? "\(pid)" : "\(pid)/task/\(tid)"
                    let threadStatus = try settled(try proc.status(path), path: path, in: proc)
                    present.insert(threadStatus.innermostPID)
                    let who = tid == pid ? "restored task \(inner)" : "restored task \(inner) (thread \(threadStatus.innermostPID))"
                    if let violation = rule.violation(threadStatus.credentials, subject: who) { return fail(violation.description) }
                    guard threadStatus.isStopped || threadStatus.isZombie else {
                        return fail("\(who) is running (state \(threadStatus.state)), not stopped as criu was told to leave it")
                    }
                }
                guard present == Set(want.threads) else {
                    return fail("restored task \(inner) has threads \(present.sorted()), the images \(want.threads.sorted())")
                }
                if let problem = descriptorProblem(pid: pid, inner: inner, in: proc, uid: rule.uid, procFiles: &procFiles) { return fail(problem) }
                if let problem = controllingTerminalProblem(pid: pid, inner: inner, in: proc, uid: rule.uid) { return fail(problem) }
                if let problem = executableProblem(pid: pid, inner: inner, in: proc) { return fail(problem) }
                if !want.wasStopped { toResume.append(pid) } else if let signal = want.stopSignal { toStopAgain.append((pid, signal)) }
                queue += try proc.children(of: pid)
            } catch {
                return fail("cannot read restored task \(pid): \(error)")
            }
        }
        let missing = Set(wanted.keys).subtracting(outer.keys)
        guard missing.isEmpty else { return fail("tasks \(missing.sorted()) of the images were not restored") }
        let threads = Set(expected.flatMap(\.threads))
        if let problem = procFileProblem(procFiles, processes: Set(wanted.keys), threads: threads) { return fail(problem) }
        return .passed(RestoredTree(pins: pins, outerPIDs: outer, toResume: toResume, toStopAgain: toStopAgain))
    }

    /// The check criu's action script makes while criu still holds the
    /// restored tasks (criu-helper-restore-check): at "post-restore" they
    /// wait in criu's restorer for their credentials (no code of the job's
    /// has run, and none can run until criu lets them go: a SIGCONT does not
    /// move them), at "pre-resume" criu has them stopped under ptrace. So it
    /// holds even when the caller stops the helper and continues the tasks
    /// once criu has left them. Every process from `root` down: its
    /// executable and its descriptors as in `verify`, and at "pre-resume"
    /// the credentials of each thread. Returns the problem, if any, and pins
    /// of every process read (to kill them).
    public static func checkHeld(root: Int32, in proc: ProcFilesystem, uid: UInt32,
                                 credentials rule: CredentialRule?) -> (problem: String?, pins: [any ProcessPin]) {
        var pins: [any ProcessPin] = []
        var procFiles: [(holder: Int32, file: ProcessFilePath)] = []
        var processes: Set<Int32> = []
        var allThreads: Set<Int32> = []
        var queue = [root]
        var next = 0
        while next < queue.count {
            let pid = queue[next]
            next += 1
            guard queue.count <= 1_000_000 else { return ("more restored tasks than can be checked", pins) }
            do {
                let pin = try proc.pin(pid)
                pins.append(pin)
                let status = try proc.status("\(pid)")
                guard pin.isAlive else { continue }
                if status.isZombie { continue }
                if let problem = descriptorProblem(pid: pid, inner: pid, in: proc, uid: uid, allowProcRoot: true, procFiles: &procFiles) {
                    return (problem, pins)
                }
                if let problem = controllingTerminalProblem(pid: pid, inner: pid, in: proc, uid: uid) { return (problem, pins) }
                if let problem = executableProblem(pid: pid, inner: pid, in: proc) { return (problem, pins) }
                let threads = try proc.threads(of: pid)
                processes.insert(pid)
                allThreads.formUnion(threads)
                if let rule {
                    for tid in threads {
                        let path = tid == pid ? "\(pid)" : "\(pid)/task/\(tid)"
                        let who = tid == pid ? "restored task \(pid)" : "restored task \(pid) (thread \(tid))"
                        if let violation = rule.violation(try proc.status(path).credentials, subject: who) {
                            return (violation.description, pins)
                        }
                    }
                }
                queue += try proc.children(of: pid, threads: threads)
            } catch {
                return ("cannot read restored task \(pid): \(error)", pins)
            }
        }
        return (procFileProblem(procFiles, processes: processes, threads: allThreads), pins)
    }

    /// A descriptor on the job's own /proc names a restored task (or one
    /// of its threads); any other process there is refused.
    static func procFileProblem(_ files: [(holder: Int32, file: ProcessFilePath)], processes: Set<Int32>, threads: Set<Int32>) -> String? {
        for (holder, file) in files {
            let known = processes.contains(Int32(bitPattern: file.pid)) && file.tid.map { threads.contains(Int32(bitPattern: $0)) } ?? true
            if !known {
                return "restored task \(holder) holds /proc/\(file.pid)\(file.tid.map { "/task/\($0)" } ?? "")\(file.leaf.map { "/" + $0 } ?? ""), a file of a process that is not the job's"
            }
        }
        return nil
    }

    /// A descriptor on procfs that is a file of a process (ProcessFilePath),
    /// on the /proc that the task's own mount namespace has at /proc (the
    /// job's, which the helper mounted) and open read-only; nil otherwise.
    static func jobProcFile(pid: Int32, descriptor name: String, link: String?, in proc: ProcFilesystem) -> ProcessFilePath? {
        guard let link, let file = ProcessFilePath(link),
              let info = try? proc.read("\(pid)/fdinfo/\(name)"), let mounts = try? proc.read("\(pid)/mountinfo", limit: 16 << 20) else { return nil }
        var flags: UInt32?
        var mount: String?
        for line in info.split(separator: "\n") {
            let parts = line.split(separator: "\t", omittingEmptySubsequences: true)
            guard parts.count == 2 else { continue }
            if parts[0] == "flags:" { flags = UInt32(parts[1], radix: 8) }
            if parts[0] == "mnt_id:" { mount = String(parts[1]) }
        }
        guard let flags, flags & 0o3 == 0, let mount else { return nil }
        // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT ... - TYPE SOURCE ...; the last mount at /proc is the one seen.
        var procMount: String?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 6, fields[4] == "/proc", fields[3] == "/",
                  let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count, fields[dash + 1] == "proc" else { continue }
            procMount = String(fields[0])
        }
        return procMount == mount ? file : nil
    }

    /// Every descriptor criu gave a restored task is something the caller
    /// could open with their own credentials: not on a kernel interface
    /// (procfs, sysfs, devpts and the like: there what a descriptor may do
    /// can depend on who opened it), no device but /dev/null and its kin.
    /// Decided by what each descriptor really is, not by its path. Three
    /// exceptions, each checked for what it is: a pidfd; a terminal of the
    /// caller's (`isCallersTerminal`); a file of a process on the job's own
    /// /proc, read-only (`jobProcFile`), collected in `procFiles` for the
    /// caller to match against the restored tasks.
    /// `allowProcRoot`: while criu's restorer runs, each task still holds
    /// criu's descriptor of the /proc directory itself (a directory anyone
    /// may open); it is closed before the task runs.
    static func descriptorProblem(pid: Int32, inner: Int32, in proc: ProcFilesystem, uid: UInt32,
                                  allowProcRoot: Bool = false, procFiles: inout [(holder: Int32, file: ProcessFilePath)]) -> String? {
        guard let dir = try? proc.openDirectory("\(pid)/fd") else { return "cannot read the descriptors of restored task \(inner)" }
        guard (try? dir.status().owner) == uid, let names = try? dir.entries() else {
            return "restored task \(inner) is not dumpable (its descriptors cannot be checked)"
        }
        for name in names {
            let file: FileDescriptor
            do { file = try dir.open(name, [.pathOnly]) } catch {
                if error.errno == .noSuchFileOrDirectory { continue }   // closed meanwhile
                return "cannot check descriptor \(name) of restored task \(inner): \(error.errno)"
            }
            guard let type = try? file.fileSystemType(), let st = try? file.status() else {
                return "cannot check descriptor \(name) of restored task \(inner)"
            }
            // A pidfd (on pidfs) does what its *user* may do to the process
            // (signal it, pidfd_getfd with ptrace rights), whoever opened it.
            if type == .pidfs { continue }
            if allowProcRoot && type == .proc && st.isDirectory && st.inode == 1 { continue }
            if isCallersTerminal(st, on: type, uid: uid) { continue }
            if type == .proc, let file = jobProcFile(pid: pid, descriptor: name, link: dir.readLink(name), in: proc) {
                procFiles.append((inner, file))
                continue
            }
            if FileSystemType.kernelInterfaces.contains(type) {
                return "restored task \(inner) holds descriptor \(name) on \(type) (\(dir.readLink(name) ?? "?")), which criu-helper does not restore"
            }
            if st.isDevice && !st.isHarmlessDevice {
                return "restored task \(inner) holds descriptor \(name) on a device (\(dir.readLink(name) ?? "?")), which criu-helper does not restore"
            }
        }
        return nil
    }

    /// A restored task's controlling terminal (what its /dev/tty opens) is
    /// none, or a pseudo-terminal slave the caller owns: never the terminal
    /// of whoever ran the restore, nor a console (red team 10: a restored
    /// job typed, with TIOCSTI, into the shell that had run the restore).
    static func controllingTerminalProblem(pid: Int32, inner: Int32, in proc: ProcFilesystem, uid: UInt32) -> String? {
        guard let text = try? proc.read("\(pid)/stat"), let stat = try? TaskStat.parse(text) else {
            return "cannot read the controlling terminal of restored task \(inner)"
        }
        let device = UInt64(UInt32(bitPattern: stat.terminal))
        guard device != 0 else { return nil }
        let (major, minor) = FileStatus.deviceNumbers(device)
        if major == 136, let slave = try? FileDescriptor.open("/dev/pts/\(minor)", [.pathOnly], resolve: [.noSymlinks]),
           let st = try? slave.status(), st.owner == uid, st.isCharacterDevice {
            return nil
        }
        return "restored task \(inner) has a controlling terminal (device \(major):\(minor)) that is not a pseudo-terminal of the caller's"
    }

    /// A terminal the job may hold (TerminalTable): /dev/tty (the task's
    /// own controlling terminal), /dev/ptmx (a master: each open of it makes
    /// a new terminal) or a pseudo-terminal slave on devpts that the caller
    /// owns (criu made it as the caller). Another user's terminal, a
    /// console, a virtual console or a serial line is not.
    static func isCallersTerminal(_ st: FileStatus, on type: FileSystemType, uid: UInt32) -> Bool {
        guard st.isCharacterDevice else { return false }
        let (major, minor) = FileStatus.deviceNumbers(st.rawDevice)
        if major == 5 && (minor == 0 || minor == 2) { return true }
        return type == .devpts && major == 136 && st.owner == uid
    }

    /// The executable the kernel shows for a restored task (/proc/PID/exe,
    /// which criu sets with its capability) is one the caller could have run
    /// themselves without changing identity: a regular file, not on a kernel
    /// interface, not set-user-ID or set-group-ID, without file capabilities.
    /// The images were checked for this too, but criu opens the file again by
    /// path, later: what counts is what it opened.
    static func executableProblem(pid: Int32, inner: Int32, in proc: ProcFilesystem) -> String? {
        guard let dir = try? proc.openDirectory("\(pid)"), let exe = try? dir.open("exe", [.pathOnly]),
              let st = try? exe.status(), let type = try? exe.fileSystemType() else {
            return "cannot read the executable of restored task \(inner)"
        }
        let shown = dir.readLink("exe").map { String($0.prefix(200)) } ?? "?"
        if FileSystemType.kernelInterfaces.contains(type) { return "restored task \(inner) runs \(shown), on \(type)" }
        guard st.isRegularFile else { return "restored task \(inner) runs \(shown), which is \(st.kindDescription)" }
        if st.changesIdentity { return "restored task \(inner) runs \(shown), which is set-user-ID or set-group-ID" }
        guard let capabilities = try? exe.hasFileCapabilities() else { return "cannot read the file capabilities of \(shown), restored task \(inner)'s executable" }
        if capabilities { return "restored task \(inner) runs \(shown), which has file capabilities" }
        return nil
    }

    /// criu stops each restored task by queueing SIGSTOP as it detaches
    /// from it: read in that instant, a task is still "R", on its way to
    /// the stop and unable to run its own code first. Such a task is read
    /// again (for up to two seconds) until it has stopped; any other state
    /// is judged as it is.
    static func settled(_ first: TaskStatus, path: String, in proc: ProcFilesystem) throws -> TaskStatus {
        var status = first
        var tries = 0
        while !status.isStopped && !status.isZombie && status.stopPending && tries < 200 {
            Kernel.sleep(nanoseconds: 10_000_000)
            status = try proc.status(path)
            tries += 1
        }
        return status
    }

    /// Lets the job run: SIGCONT to every restored process that was running
    /// when it was dumped, through its pidfd. One stopped then stays stopped,
    /// and one stopped by SIGTSTP, SIGTTIN or SIGTTOU is stopped by that
    /// signal again (its parent's waitid reports it): SIGCONT then the
    /// signal, the pair queued together so that it stops before it runs its
    /// own code. The kernel discards those signals in an orphaned process
    /// group (no member has a parent in another group of the same session):
    /// such a process is left stopped by SIGSTOP, never continued. One not
    /// stopped again within two seconds all the same gets SIGSTOP.
    public func resume(in proc: ProcFilesystem) throws(SystemError) {
        for pid in toResume { try pins[pid]?.send(.continue) }
        var stats: [Int32: TaskStat] = [:]
        if !toStopAgain.isEmpty {
            for pid in pins.keys { stats[pid] = try? TaskStat.parse(try proc.read("\(pid)/stat")) }
        }
        func orphaned(_ group: Int32) -> Bool {
            !stats.values.contains { member in
                guard member.processGroup == group else { return false }
                let parent = stats[member.ppid] ?? (try? TaskStat.parse(try proc.read("\(member.ppid)/stat")))
                guard let parent else { return false }
                return parent.processGroup != group && parent.session == member.session
            }
        }
        var stoppedAgain: [Int32] = []
        for (pid, signal) in toStopAgain {
            guard let pin = pins[pid], let stat = stats[pid], !orphaned(stat.processGroup) else { continue }
            try pin.send(.continue)
            try pin.send(Signal(rawValue: signal))
            stoppedAgain.append(pid)
        }
        for pid in stoppedAgain {
            guard let pin = pins[pid] else { continue }
            var tries = 0
            while tries < 200, let status = try? proc.status("\(pid)"), !status.isStopped, !status.isZombie {
                Kernel.sleep(nanoseconds: 10_000_000)
                tries += 1
            }
            if tries == 200 { try pin.send(.stop) }
        }
    }
}

/// The outcome of `RestoredTree.verify`.
public enum RestoreCheck {
    case passed(RestoredTree)
    case failed(RestoreCheckFailure)
}

/// A restored tree that failed the check; `killAll` has to follow.
public struct RestoreCheckFailure: CustomStringConvertible {
    public let pins: [Int32: any ProcessPin]
    public let reason: String
    public var description: String { reason }

    /// SIGKILL to every pinned process (pidfds: never a successor).
    public func killAll() {
        for pin in pins.values { try? pin.send(.kill) }
    }
}
