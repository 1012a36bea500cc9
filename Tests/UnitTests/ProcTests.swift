import Credentials
import Foundation
import LinuxSystem
import ProcessTree
import Testing

/// /proc parsing, and the tree check on a fixture /proc (the seam: a
/// directory instead of /proc, pins that never die).
@Suite("/proc")
struct ProcTests {
    /// The fixture's tasks belong to whoever runs the tests: the fd
    /// directories the dumpability check looks at are theirs.
    static let me = UInt32(getuid())
    static let myGroup = UInt32(getgid())

    static func status(uid: UInt32 = me, gid: UInt32 = myGroup, groups: String = "\(myGroup)", capPrm: String = "0000000000000000",
                       nnp: Int = 1, pid: Int32 = 100, tgid: Int32? = nil, ppid: Int32 = 1, memory: Bool = true) -> String {
        """
        Name:\tjob
        State:\tS (sleeping)
        Tgid:\t\(tgid ?? pid)
        Pid:\t\(pid)
        PPid:\t\(ppid)
        Uid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)
        Gid:\t\(gid)\t\(gid)\t\(gid)\t\(gid)
        Groups:\t\(groups)
        NSpid:\t\(pid)
        CapInh:\t0000000000000000
        CapPrm:\t\(capPrm)
        CapEff:\t0000000000000000
        CapBnd:\t000001fffeffffff
        CapAmb:\t0000000000000000
        NoNewPrivs:\t\(nnp)
        Kthread:\t0
        \(memory ? "VmSize:\t    2304 kB" : "")

        """
    }

    @Test("status: every field the check needs, strictly")
    func parseStatus() throws {
        let s = try TaskStatus.parse(Self.status(uid: 1001, groups: "27 1001"))
        #expect(s.uids == [1001, 1001, 1001, 1001] && s.groups == [27, 1001] && s.noNewPrivs && s.kernelThread == false)
        #expect(throws: ProcParseError.self) { try TaskStatus.parse(Self.status().replacingOccurrences(of: "Uid:", with: "Uix:")) }
        #expect(throws: ProcParseError.self) { try TaskStatus.parse(Self.status(capPrm: "zz")) }
        #expect(throws: ProcParseError.self) { try TaskStatus.parse(Self.status() + "Uid:\t0\t0\t0\t0\n") }
    }

    @Test("status: SIGSTOP pending (thread or process) while still running; missing lines mean none")
    func pendingStop() throws {
        let running = Self.status()
        #expect(try TaskStatus.parse(running).stopPending == false)
        let shared = try TaskStatus.parse(running + "SigPnd:\t0000000000000000\nShdPnd:\t0000000000040000\n")
        #expect(shared.stopPending && !shared.isStopped)
        let own = try TaskStatus.parse(running + "SigPnd:\t0000000000040100\nShdPnd:\t0000000000000000\n")
        #expect(own.stopPending)
        let other = try TaskStatus.parse(running + "SigPnd:\t0000000000020000\nShdPnd:\t0000000000000100\n")
        #expect(!other.stopPending, "SIGCONT and SIGKILL pending are not a stop")
        #expect(throws: ProcParseError.self) { try TaskStatus.parse(running + "ShdPnd:\tnope\n") }
        #expect(try TaskStatus.parse(running.replacingOccurrences(of: "S (sleeping)", with: "T (stopped)")).isStopped)
    }

    @Test("stat: a command name with spaces and parentheses")
    func parseStat() throws {
        let fields = (0..<30).map { String($0) }.joined(separator: " ")
        let s = try TaskStat.parse("123 (a) b (c) S 1 123 123 0 -1 4194560 \(fields)")
        #expect(s.pid == 123 && s.ppid == 1 && s.session == 123 && s.terminal == 0 && !s.isKernelThread)
    }

    final class Pin: ProcessPin {
        var isAlive: Bool { true }
        func send(_ signal: Signal) throws(SystemError) {}
    }

    /// A fixture /proc with process 100 (child 101 with thread 102), all
    /// alice's unless `tweak` changes something.
    func fixture(_ tweak: (String) -> Void = { _ in }) throws -> (ProcFilesystem, TreePolicy) {
        let root = NSTemporaryDirectory() + "proc-\(UUID().uuidString)"
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(root)/ns", withIntermediateDirectories: true)
        _ = fm.createFile(atPath: "\(root)/ns/user", contents: Data())
        _ = fm.createFile(atPath: "\(root)/ns/pid", contents: Data())
        _ = fm.createFile(atPath: "\(root)/ns/mnt", contents: Data())
        _ = fm.createFile(atPath: "\(root)/ns/net", contents: Data())
        for (pid, ppid, threads, children) in [(Int32(100), Int32(1), [Int32(100)], "101"), (101, 100, [101, 102], "")] {
            try Self.makeProcess(in: root, pid: pid, ppid: ppid, threads: threads, children: children)
        }
        tweak(root)
        let fd = try FileDescriptor.open(root, [.directory])
        let proc = ProcFilesystem(root: fd) { (_: Int32) throws(SystemError) -> any ProcessPin in Pin() }
        let user = try proc.namespace(.user, of: "100")
        let pidns = try proc.namespace(.pid, of: "100")
        let mount = try proc.namespace(.mount, of: "100")
        let network = try proc.namespace(.network, of: "100")
        let policy = TreePolicy(rule: CredentialRule(uid: Self.me, groups: [Self.myGroup], requireNoNewPrivileges: true),
                                excludedPIDs: [], userNamespace: user, pidNamespace: pidns, mountNamespace: mount,
                                networkNamespace: network)
        return (proc, policy)
    }

    /// One process of the fixture /proc, alice's, in the fixture's namespaces.
    static func makeProcess(in root: String, pid: Int32, ppid: Int32, threads: [Int32], children: String) throws {
        let fm = FileManager.default
        let stat = (0..<30).map { _ in "0" }.joined(separator: " ")
        do {
            for tid in threads {
                let dir = "\(root)/\(pid)/task/\(tid)"
                try fm.createDirectory(atPath: "\(dir)/ns", withIntermediateDirectories: true)
                try Self.status(pid: tid, tgid: pid, ppid: ppid).write(toFile: "\(dir)/status", atomically: true, encoding: .utf8)
                try (tid == pid ? children : "").write(toFile: "\(dir)/children", atomically: true, encoding: .utf8)
                try fm.createDirectory(atPath: "\(dir)/fd", withIntermediateDirectories: true)
                try fm.linkItem(atPath: "\(root)/ns/user", toPath: "\(dir)/ns/user")
                try fm.linkItem(atPath: "\(root)/ns/pid", toPath: "\(dir)/ns/pid")
                try fm.linkItem(atPath: "\(root)/ns/mnt", toPath: "\(dir)/ns/mnt")
                try fm.linkItem(atPath: "\(root)/ns/net", toPath: "\(dir)/ns/net")
            }
            let dir = "\(root)/\(pid)"
            try Self.status(pid: pid, ppid: ppid).write(toFile: "\(dir)/status", atomically: true, encoding: .utf8)
            try "\(pid) (job) S \(ppid) \(pid) \(pid) 0 -1 0 \(stat)".write(toFile: "\(dir)/stat", atomically: true, encoding: .utf8)
            try fm.createDirectory(atPath: "\(dir)/fd", withIntermediateDirectories: true)
            try fm.createDirectory(atPath: "\(dir)/ns", withIntermediateDirectories: true)
            try fm.linkItem(atPath: "\(root)/ns/user", toPath: "\(dir)/ns/user")
            try fm.linkItem(atPath: "\(root)/ns/pid", toPath: "\(dir)/ns/pid")
            try fm.linkItem(atPath: "\(root)/ns/mnt", toPath: "\(dir)/ns/mnt")
            try fm.linkItem(atPath: "\(root)/ns/net", toPath: "\(dir)/ns/net")
        }
    }

    func inspect(_ tweak: @escaping (String) -> Void = { _ in }) throws -> Result<ProcessTree, TreeRefusal> {
        let (proc, policy) = try fixture(tweak)
        do { return .success(try ProcessTree.inspect(rootPID: 100, in: proc, policy: policy)) } catch { return .failure(error) }
    }

    @Test("a tree of the caller's passes, threads and children included")
    func cleanTree() throws {
        let tree = try inspect().get()
        #expect(tree.tasks.map(\.pid) == [100, 101] && tree.threadCount == 3)
    }

    @Test("a children list that cannot be read is a refusal, not a leaf (fail closed)")
    func unreadableChildren() throws {
        let result = try inspect { root in
            try? FileManager.default.removeItem(atPath: "\(root)/100/task/100/children")
            try? FileManager.default.createDirectory(atPath: "\(root)/100/task/100/children", withIntermediateDirectories: false)
        }
        guard case .failure = result else { Issue.record("a tree whose children could not be listed was accepted"); return }
    }

    @Test("a child that cannot be pinned for another reason than having ended is a refusal, not a subtree skipped (fail closed)")
    func unpinnableChild() throws {
        var (proc, policy) = try fixture()
        proc = ProcFilesystem(root: try FileDescriptor.open(proc.root.currentPath()!, [.directory])) { (pid: Int32) throws(SystemError) -> any ProcessPin in
            if pid == 101 { throw SystemError("pidfd_open", "101", errno: Errno(24)) }   // EMFILE
            return Pin()
        }
        #expect(throws: TreeRefusal.self) { try ProcessTree.inspect(rootPID: 100, in: proc, policy: policy) }
        let gone = ProcFilesystem(root: try FileDescriptor.open(proc.root.currentPath()!, [.directory])) { (pid: Int32) throws(SystemError) -> any ProcessPin in
            if pid == 101 { throw SystemError("pidfd_open", "101", errno: .noSuchProcess) }
            return Pin()
        }
        #expect(try ProcessTree.inspect(rootPID: 100, in: gone, policy: policy).tasks.map(\.pid) == [100], "a child reaped since the listing is let go")
        _ = policy
    }

    @Test("a child that moves to an already listed parent during the walk (its parent ended) is still checked")
    func childMovedToListedParent() throws {
        // 100 lists 101; 101 lists 103; by the time 103 is pinned, 101 has
        // ended and 103 sits under 100, whose children were read before.
        var (proc, policy) = try fixture { root in
            try? ProcTests.makeProcess(in: root, pid: 103, ppid: 100, threads: [103], children: "")
            try? "103 ".write(toFile: "\(root)/101/task/101/children", atomically: true, encoding: .utf8)
            try? ProcTests.status(uid: 4242, pid: 103, ppid: 100).write(toFile: "\(root)/103/status", atomically: true, encoding: .utf8)
            try? ProcTests.status(uid: 4242, pid: 103, ppid: 100).write(toFile: "\(root)/103/task/103/status", atomically: true, encoding: .utf8)
        }
        let path = proc.root.currentPath()!
        proc = ProcFilesystem(root: try FileDescriptor.open(path, [.directory])) { (pid: Int32) throws(SystemError) -> any ProcessPin in
            if pid == 103 { try? "101 103 ".write(toFile: "\(path)/100/task/100/children", atomically: true, encoding: .utf8) }
            return Pin()
        }
        do {
            let tree = try ProcessTree.inspect(rootPID: 100, in: proc, policy: policy)
            Issue.record("a task that moved within the tree was not checked: \(tree.tasks.map(\.pid))")
        } catch {
            #expect("\(error)".contains("task 103"), "\(error)")
        }
        _ = policy
    }

    @Test("a thread that cannot be read, and has not ended, is a refusal, not a thread skipped (fail closed)")
    func unreadableThread() throws {
        let result = try inspect { root in
            try? FileManager.default.removeItem(atPath: "\(root)/101/task/102/status")
            try? FileManager.default.createDirectory(atPath: "\(root)/101/task/102/status", withIntermediateDirectories: false)
        }
        guard case .failure(let refusal) = result else { Issue.record("a tree with an unread thread was accepted"); return }
        #expect("\(refusal)".contains("thread 102"), "\(refusal)")
    }

    @Test("a thread in another network namespace than the job's is refused (a job of run --private-network, or one beside it)")
    func threadInOtherNetwork() throws {
        let result = try inspect { root in
            let path = "\(root)/101/task/102/ns/net"
            try? FileManager.default.removeItem(atPath: path)
            FileManager.default.createFile(atPath: "\(root)/ns/other-net", contents: Data())
            try? FileManager.default.linkItem(atPath: "\(root)/ns/other-net", toPath: path)
        }
        guard case .failure(let refusal) = result else { Issue.record("accepted"); return }
        #expect("\(refusal)".contains("thread 102") && "\(refusal)".contains("network"), "\(refusal)")
    }

    @Test("a thread with other credentials is refused")
    func foreignThread() throws {
        let result = try inspect { root in
            try? ProcTests.status(uid: 4242, pid: 102, tgid: 101, ppid: 100).write(toFile: "\(root)/101/task/102/status", atomically: true, encoding: .utf8)
        }
        guard case .failure(let refusal) = result else { Issue.record("accepted"); return }
        #expect(refusal.description == "task 101 (thread 102) has uid 4242, not the caller's \(Self.me)")
    }

    @Test("capabilities, foreign groups and missing no_new_privs are refused")
    func otherRefusals() throws {
        let cases: [(String, String)] = [
            (ProcTests.status(capPrm: "0000000000200000", pid: 101, ppid: 100), "task 101 holds capabilities (CapPrm 0000000000200000)"),
            (ProcTests.status(groups: "\(Self.myGroup) 27", pid: 101, ppid: 100),
             "task 101 has supplementary group 27, which is not one of the caller's groups (\(Self.myGroup))"),
            (ProcTests.status(nnp: 0, pid: 101, ppid: 100), "task 101 does not have no_new_privs set"),
        ]
        for (text, expected) in cases {
            let result = try inspect { root in try? text.write(toFile: "\(root)/101/status", atomically: true, encoding: .utf8) }
            guard case .failure(let refusal) = result else { Issue.record("accepted"); continue }
            #expect(refusal.description.hasPrefix(expected), "\(refusal)")
        }
    }

    @Test("a child that ends while it is checked is let go; a live one that cannot be read, or the root, is refused")
    func childEndingDuringCheck() throws {
        // /proc/101/fd gone and no memory: the child is on its way out.
        let exiting = try inspect { root in
            try? FileManager.default.removeItem(atPath: "\(root)/101/fd")
            try? ProcTests.status(pid: 101, ppid: 100, memory: false).write(toFile: "\(root)/101/status", atomically: true, encoding: .utf8)
        }
        #expect((try? exiting.get())?.tasks.map(\.pid) == [100, 101], "\(exiting)")
        // The same with its memory still there: refused.
        let live = try inspect { root in try? FileManager.default.removeItem(atPath: "\(root)/101/fd") }
        guard case .failure(.unreadable(let pid, _)) = live else { Issue.record("accepted: \(live)"); return }
        #expect(pid == 101)
        // The root is never let go.
        let rootExiting = try inspect { root in
            try? FileManager.default.removeItem(atPath: "\(root)/100/fd")
            try? ProcTests.status(pid: 100, memory: false).write(toFile: "\(root)/100/status", atomically: true, encoding: .utf8)
        }
        guard case .failure(.unreadable(let rootPID, _)) = rootExiting else { Issue.record("accepted: \(rootExiting)"); return }
        #expect(rootPID == 100)
        // An exiting thread is let go too.
        let thread = try inspect { root in
            try? FileManager.default.removeItem(atPath: "\(root)/101/task/102/fd")
            try? ProcTests.status(pid: 102, tgid: 101, ppid: 100, memory: false).write(toFile: "\(root)/101/task/102/status", atomically: true, encoding: .utf8)
        }
        #expect((try? thread.get()) != nil, "\(thread)")
    }

    @Test("pid 1 and a thread id given as the root are refused")
    func rootChecks() throws {
        let (proc, policy) = try fixture()
        #expect(throws: TreeRefusal.initProcess) { try ProcessTree.inspect(rootPID: 1, in: proc, policy: policy) }
        var excluded = policy
        excluded.excludedPIDs = [101]
        #expect(throws: TreeRefusal.containsHelper(101)) { try ProcessTree.inspect(rootPID: 100, in: proc, policy: excluded) }
    }
}
