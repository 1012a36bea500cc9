import LinuxSystem

/// What the kernel really restored, read back from /proc while criu left
/// every task stopped. Whatever the images said, a task that is not the
/// caller's, holds a capability, or was not in the images is a refusal,
/// and everything restored is killed before any of it runs.
public final class RestoredTree {
    public struct Expected: Sendable {
        public var pid: Int32
        public var threads: [Int32]
        public init(pid: Int32, threads: [Int32]) { self.pid = pid; self.threads = threads }
    }

    /// Pins by PID outside the namespace.
    public let pins: [Int32: any ProcessPin]
    /// PID inside the namespace -> PID outside.
    public let outerPIDs: [Int32: Int32]

    init(pins: [Int32: any ProcessPin], outerPIDs: [Int32: Int32]) {
        self.pins = pins
        self.outerPIDs = outerPIDs
    }

    /// Walks everything below `reaper` (the namespace's init, seen from
    /// outside), pins and checks every process and thread, and compares the
    /// set with `expected` (PIDs as the images number them, inside).
    public static func verify(_ expected: [Expected], below reaper: Int32, in proc: ProcFilesystem, callerUID: UInt32,
                              callerGroups: Set<UInt32>) -> RestoreCheck {
        var pins: [Int32: any ProcessPin] = [:]
        var outer: [Int32: Int32] = [:]
        let wanted = Dictionary(uniqueKeysWithValues: expected.map { ($0.pid, Set($0.threads)) })
        var queue = proc.children(of: reaper)
        func fail(_ reason: String) -> RestoreCheck { .failed(RestoreCheckFailure(pins: pins, reason: reason)) }
        while !queue.isEmpty {
            let pid = queue.removeFirst()
            do {
                let pin = try proc.pinner(pid)
                pins[pid] = pin
                let status = try TaskStatus.parse(try proc.read("\(pid)/status"))
                guard pin.isAlive else { return fail("restored task \(pid) vanished") }
                let inner = status.innermostPID
                guard let threads = wanted[inner] else {
                    return fail("process \(inner) was restored but is not in the images")
                }
                outer[inner] = pid
                // A zombie in the images (no threads) is restored as one:
                // it can never run, and its credentials are whatever it died
                // with (criu's, before they were set). Nothing else about it
                // matters; anything but a zombie is refused.
                if threads.isEmpty {
                    guard status.isZombie else { return fail("restored task \(inner) should be a zombie, but is in state \(status.state)") }
                    continue
                }
                let taskDir = try proc.openDirectory("\(pid)/task")
                var present: Set<Int32> = []
                for name in try taskDir.entries() {
                    guard let tid = Int32(name) else { continue }
                    let threadStatus = try settled(try TaskStatus.parse(try proc.read("\(pid)/task/\(tid)/status")),
                                                   path: "\(pid)/task/\(tid)/status", in: proc)
                    present.insert(threadStatus.innermostPID)
                    if let problem = problem(with: threadStatus, pid: inner, tid: threadStatus.innermostPID,
                                             uid: callerUID, groups: callerGroups) {
                        return fail(problem)
                    }
                }
                guard present == threads else {
                    return fail("restored task \(inner) has threads \(present.sorted()), the images \(threads.sorted())")
                }
                queue += proc.children(of: pid)
            } catch {
                return fail("cannot read restored task \(pid): \(error)")
            }
        }
        let missing = Set(wanted.keys).subtracting(outer.keys)
        guard missing.isEmpty else { return fail("tasks \(missing.sorted()) of the images were not restored") }
        return .passed(RestoredTree(pins: pins, outerPIDs: outer))
    }

    /// criu stops each restored task by queueing SIGSTOP as it detaches
    /// from it: read in that instant, a task is still "R", on its way to
    /// the stop and unable to run its own code first. Such a task is read
    /// again (for up to a second) until it has stopped; any other state is
    /// judged as it is.
    static func settled(_ first: TaskStatus, path: String, in proc: ProcFilesystem) throws -> TaskStatus {
        var status = first
        var tries = 0
        while !status.isStopped && !status.isZombie && status.stopPending && tries < 100 {
            Kernel.sleep(nanoseconds: 10_000_000)
            status = try TaskStatus.parse(try proc.read(path))
            tries += 1
        }
        return status
    }

    static func problem(with s: TaskStatus, pid: Int32, tid: Int32, uid: UInt32, groups: Set<UInt32>) -> String? {
        let who = pid == tid ? "restored task \(pid)" : "restored task \(pid) (thread \(tid))"
        for (i, value) in s.uids.enumerated() where value != uid {
            return "\(who) has \(TaskStatus.uidNames[i]) \(value), not the caller's \(uid)"
        }
        for gid in s.gids + s.groups where !groups.contains(gid) {
            return "\(who) has group \(gid), not one of the caller's"
        }
        for (name, mask) in [("CapInh", s.capInh), ("CapPrm", s.capPrm), ("CapEff", s.capEff), ("CapAmb", s.capAmb)] where mask != 0 {
            return "\(who) holds capabilities (\(name) \(hex16(mask)))"
        }
        guard s.isStopped || s.isZombie else {
            return "\(who) is running (state \(s.state)), not stopped as criu was told to leave it"
        }
        return nil
    }

    /// Lets the job run: SIGCONT to every restored process, through its pidfd.
    public func resume() throws(SystemError) {
        for pin in pins.values { try pin.send(18 /* SIGCONT */) }
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
        for pin in pins.values { try? pin.send(9) }
    }
}
