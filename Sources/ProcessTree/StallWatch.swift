/// Tells a criu run that waits for something that will never come from one
/// that works slowly.
///
/// criu holds its capability while it waits, and what it waits for runs as
/// the caller: the tasks it restores, the restore check it runs as its
/// action script, criu itself. A signal with the caller's uid stops any of
/// them for good: a SIGCONT to a task criu has seized (PTRACE_SEIZE) makes
/// the kernel trap it (PTRACE_EVENT_STOP) while criu sleeps on a futex
/// waiting for a restore stage, without a SIGCHLD handler to notice; a
/// SIGSTOP does the same to the restore check (criu waits for it) or to
/// criu. Nothing then ends the request but criu-timeout.
///
/// The watch samples the CPU time the kernel counted for every thread of
/// criu, of the processes below it and of the job's tasks criu holds under
/// ptrace in a dump (/proc/TID/schedstat), and their states
/// (/proc/TID/stat). The run has stalled when none of them ran for
/// `window`, none is runnable or waits uninterruptibly (D, the disk), and
/// one of them is stopped (T, t: a signal's doing) or a zombie (a task of
/// the run killed). A working restore always has something running or
/// runnable: criu, a restored task in criu's restorer, or the restore
/// check; a working dump has criu or its parasite in the job. A run that
/// merely sleeps, everything in it waiting, is left to criu-timeout.
///
/// To keep the cost low on big trees, each sample first reads only criu;
/// the rest is read only once criu itself has not run for `window`.
public struct StallWatch {
    let proc: ProcFilesystem
    let criu: () -> Int32?
    let extra: [Int32]
    let window: UInt64
    var criuRan: (time: UInt64, at: UInt64)?
    var treeRan: (time: UInt64, at: UInt64)?

    /// `criu`: criu's PID as this /proc numbers it, nil while unknown.
    /// `alsoWatching`: processes that are not below criu but work for it
    /// (the job's tasks, where a dump's parasite runs); their children are
    /// not followed. `windowNanoseconds`: how long nothing may run.
    public init(proc: ProcFilesystem, criu: @escaping () -> Int32?, alsoWatching extra: [Int32] = [],
                windowNanoseconds: UInt64) {
        self.proc = proc
        self.criu = criu
        self.extra = extra
        self.window = windowNanoseconds
    }

    /// One sample at `now` (monotonic nanoseconds). Returns what stands
    /// still once nothing has run for the window, nil while the run moves
    /// (or cannot be read: the caller's timeout still bounds it).
    public mutating func stalled(now: UInt64) -> String? {
        guard let criu = criu(), let own = Self.threadSample(proc, criu, criu) else {
            return nil
        }
        if own.busy || criuRan == nil || criuRan!.time != own.ran {
            criuRan = (own.ran, now)
            treeRan = nil
            return nil
        }
        guard now &- criuRan!.at >= window else { return nil }
        guard let tree = Self.treeSample(proc, criu, extra: extra) else { treeRan = nil; return nil }
        if tree.busy || treeRan == nil || treeRan!.time != tree.ran {
            treeRan = (tree.ran, now)
            return nil
        }
        guard now &- treeRan!.at >= window, tree.stopped else { return nil }
        return tree.states
    }

    struct Sample {
        var ran: UInt64 = 0
        var busy = false
        var stopped = false
        var states = ""
    }

    /// CPU time and state of one thread; nil when it cannot be read.
    static func threadSample(_ proc: ProcFilesystem, _ pid: Int32, _ tid: Int32) -> (ran: UInt64, busy: Bool, state: Character)? {
        guard let sched = try? proc.read("\(pid)/task/\(tid)/schedstat", limit: 256),
              let first = sched.split(separator: " ").first, let ran = UInt64(first),
              let stat = try? TaskStat.parse(try proc.read("\(pid)/task/\(tid)/stat", limit: 4096)) else { return nil }
        return (ran, stat.state == "R" || stat.state == "D", stat.state)
    }

    /// Every thread of `root`, of the processes below it (at most 65,536)
    /// and of `extra` (those that still exist).
    static func treeSample(_ proc: ProcFilesystem, _ root: Int32, extra: [Int32]) -> Sample? {
        var sample = Sample()
        var pending = [root]
        var seen = 0
        var stopped: [String] = []
        // The job's tasks count once criu holds them (their tracer): before,
        // they run on their own while criu may be stopped.
        for pid in extra {
            guard let threads = try? proc.threads(of: pid) else { continue }
            for tid in threads where tracer(proc, pid, tid) == root {
                guard let thread = threadSample(proc, pid, tid) else { continue }
                sample.ran &+= thread.ran
                sample.busy = sample.busy || thread.busy
            }
        }
        while let pid = pending.popLast() {
            seen += 1
            guard seen <= 65_536, let threads = try? proc.threads(of: pid) else { return nil }
            for tid in threads {
                guard let thread = threadSample(proc, pid, tid) else { return nil }
                sample.ran &+= thread.ran
                sample.busy = sample.busy || thread.busy
                sample.stopped = sample.stopped || "TtZ".contains(thread.state)
                if thread.state != "S", stopped.count < 8 {
                    stopped.append("\(tid) \(Self.describe(thread.state))")
                }
            }
            guard let children = try? proc.children(of: pid, threads: threads) else { return nil }
            pending += children
        }
        sample.states = stopped.isEmpty ? "every task asleep" : stopped.joined(separator: ", ")
        return sample
    }

    /// The TracerPid of a thread's status, nil when unreadable.
    static func tracer(_ proc: ProcFilesystem, _ pid: Int32, _ tid: Int32) -> Int32? {
        guard let status = try? proc.read("\(pid)/task/\(tid)/status", limit: 8192),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("TracerPid:") }) else { return nil }
        return Int32(line.dropFirst("TracerPid:".count).trimmingCharacters("\t"))
    }

    static func describe(_ state: Character) -> String {
        switch state {
        case "t": "in tracing stop"
        case "T": "stopped"
        case "Z": "a zombie"
        case "X": "dead"
        default: "in state \(state)"
        }
    }
}
