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

    public let pins: [Int32: any ProcessPin]

    init(pins: [Int32: any ProcessPin]) { self.pins = pins }

    /// Pins and checks every expected process and thread, and that no other
    /// process hangs below them.
    public static func verify(_ expected: [Expected], in proc: ProcFilesystem, callerUID: UInt32,
                              callerGroups: Set<UInt32>) -> RestoreCheck {
        var pins: [Int32: any ProcessPin] = [:]
        let expectedPIDs = Set(expected.map(\.pid))
        for process in expected {
            do {
                let pin = try proc.pinner(process.pid)
                pins[process.pid] = pin
                _ = try proc.openDirectory("\(process.pid)")
                guard pin.isAlive else { return .failed(RestoreCheckFailure(pins: pins, reason: "task \(process.pid) is gone")) }
                let taskDir = try proc.openDirectory("\(process.pid)/task")
                let present = Set(try taskDir.entries().compactMap { Int32($0) })
                guard present == Set(process.threads) else {
                    return .failed(RestoreCheckFailure(pins: pins, reason: "task \(process.pid) has threads \(present.sorted()), the images \(process.threads.sorted())"))
                }
                for tid in process.threads {
                    let status = try TaskStatus.parse(try proc.read("\(process.pid)/task/\(tid)/status"))
                    if let problem = problem(with: status, pid: process.pid, tid: tid, uid: callerUID, groups: callerGroups) {
                        return .failed(RestoreCheckFailure(pins: pins, reason: problem))
                    }
                }
                for tid in process.threads {
                    let children = (try? proc.read("\(process.pid)/task/\(tid)/children")) ?? ""
                    for child in children.split(separator: " ").compactMap({ Int32($0.trimmingCharacters("\n")) })
                    where !expectedPIDs.contains(child) {
                        return .failed(RestoreCheckFailure(pins: pins, reason: "task \(process.pid) has a child \(child) that the images do not have"))
                    }
                }
            } catch {
                return .failed(RestoreCheckFailure(pins: pins, reason: "cannot read restored task \(process.pid): \(error)"))
            }
        }
        return .passed(RestoredTree(pins: pins))
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
        guard s.state == "T" || s.state == "t" || s.isZombie else {
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
