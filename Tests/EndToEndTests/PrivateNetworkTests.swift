import Foundation
import Testing

/// `run --private-network`: the job in a network namespace the helper made
/// (owned by the initial user namespace, loopback only), which criu enters
/// to dump it and which restore makes again. What it stops: red team 7's
/// parasite-socket attack — criu's abstract sockets (`@/crtools-pr-…` while
/// it dumps, `@/crtools-fd-…` while it restores) are in the node's network
/// namespace for every other job, where any user sees and reaches them.
@Suite("private network", .serialized, .enabled(if: E2E.enabled))
struct PrivateNetworkTests {
    static let port = 48_000 + Int(getpid() % 1000)
    static let base = "\(User.alice.home)/e2e/private-network"

    static func networkNamespace(of pid: Int32) -> String {
        Shell.root("readlink /proc/\(pid)/ns/net").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A ch-state job of alice's under `run --private-network` (or in the
    /// node's network); its images directory, output and root PID.
    static func startStateJob(_ name: String, privateNetwork: Bool) throws -> (dir: String, out: String, root: Int32) {
        let dir = User.alice.scratch(name)
        let out = "\(base)/\(name).out"
        Shell.root("rm -rf \(base)/\(name).out \(base)/ch-state.lock")
        let flag = privateNetwork ? "--private-network " : ""
        Shell.user(.alice, "mkdir -p \(base) && cd \(base) && (\(E2E.helper) run \(flag)--images-dir \(dir) -- \(E2E.bin)/ch-state \(port) > \(out) 2>&1 &)")
        try #require(eventually(20) { lines(out).contains { $0.hasPrefix("tick 1 ") } }, "the job started: \(lines(out))")
        let job = try #require(recordedJob(dir), "run recorded the job")
        return (dir, out, job.root)
    }

    /// A TCP connection to the job's listener from inside its network
    /// namespace (root enters it as a witness); true once the job said so.
    static func connectsInside(_ pid: Int32, out: String) -> Bool {
        let before = lines(out).filter { $0 == "accepted" }.count
        Shell.root("nsenter -t \(pid) -n bash -c 'exec 3<>/dev/tcp/127.0.0.1/\(port)'")
        return eventually(20) { lines(out).filter { $0 == "accepted" }.count > before }
    }

    @Test("run --private-network: the job has loopback only, in a network namespace of its own; its listener answers inside it and not on the node, before and after dump and restore, and restore makes a new private network")
    func loopbackOnly() throws {
        defer { Shell.root("pkill -9 -u \(User.alice.uid)") }
        let host = Shell.root("readlink /proc/self/ns/net").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let (dir, out, root) = try Self.startStateJob("private-net", privateNetwork: true)
        let jobNetwork = Self.networkNamespace(of: root)
        #expect(!jobNetwork.isEmpty && jobNetwork != host, "the job's network namespace \(jobNetwork) is not the node's \(host)")
        let links = Shell.root("nsenter -t \(root) -n ip -o link show").stdout.split(separator: "\n")
        #expect(links.count == 1 && links[0].contains(": lo:") && links[0].contains("UP"), "loopback only, and up: \(links)")
        #expect(Shell.root("ss -Htln 'sport = :\(Self.port)'").stdout.isEmpty, "nothing listens on the node's network")
        #expect(Shell.root("bash -c 'exec 3<>/dev/tcp/127.0.0.1/\(Self.port)'").status != 0, "the node cannot reach the job's listener")
        #expect(Self.connectsInside(root, out: out), "the listener answers inside: \(lines(out).suffix(5))")

        let audit = AuditLog.mark()
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)")
        try #require(dump.status == 0, "\(dump)")
        #expect(audit.records(containing: dir).contains { $0.contains("op=dump") && $0.contains("network=private") },
                "the dump's record says the job had a private network")
        let generation = Shell.root("ls -d \(dir)/g0* | tail -1").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Shell.root("cat \(generation)/network").stdout == "private\n", "the generation records the private network")

        let restore = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        try #require(restore.status == 0, "\(restore)")
        let restored = try #require(recordedJob(dir), "restore recorded the job")
        let restoredNetwork = Self.networkNamespace(of: restored.root)
        // (Not compared with the dumped job's: that namespace ended with the
        // job, and the kernel may give its inode number to the new one.)
        #expect(!restoredNetwork.isEmpty && restoredNetwork != host, "a private network again: \(restoredNetwork)")
        #expect(Shell.root("nsenter -t \(restored.root) -n ip -o link show").stdout.split(separator: "\n").count == 1)
        #expect(Shell.root("ss -Htln 'sport = :\(Self.port)'").stdout.isEmpty, "still nothing on the node's network")
        #expect(Self.connectsInside(restored.root, out: out), "the restored listener answers inside: \(lines(out).suffix(5))")
        #expect(capableProcesses(of: .alice).isEmpty, "no process of alice's holds a capability: \(capableProcesses(of: .alice))")
        // Dumped again from its restored network: the generation says so again.
        let again = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir) --leave-running")
        #expect(again.status == 0, "\(again)")
        let latest = Shell.root("ls -d \(dir)/g0* | tail -1").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(latest != generation && Shell.root("cat \(latest)/network").stdout == "private\n")
    }

    /// Bob watches the node's unix sockets (/proc/net/unix, readable by
    /// everyone) for criu's, as red team 7 did before connecting to them.
    struct Watcher {
        let stop: String
        let seen: String

        static func start() throws -> Watcher {
            let dir = User.bob.scratch("socket-watch")
            Shell.root("mkdir -p \(dir)")
            let watcher = Watcher(stop: "\(dir)/stop", seen: "\(dir)/seen")
            let script = """
                import os, sys
                stop, seen_path = sys.argv[1], sys.argv[2]
                seen = set()
                open(seen_path + ".started", "w").close()
                live = open(seen_path + ".live", "a")
                while not os.path.exists(stop):
                    with open("/proc/net/unix") as f:
                        for line in f:
                            if "crtools-" in line and line.split()[-1] not in seen:
                                seen.add(line.split()[-1])
                                live.write(line.split()[-1] + "\\n")
                                live.flush()
                with open(seen_path, "w") as f:
                    f.write("".join(name + "\\n" for name in sorted(seen)))
                """
            try script.write(toFile: "\(dir)/watch.py", atomically: true, encoding: .utf8)
            Shell.root("chown -R \(User.bob.name): \(dir)")
            Shell.user(.bob, "(python3 \(dir)/watch.py \(watcher.stop) \(watcher.seen) > /dev/null 2>&1 &)")
            try #require(eventually(20) { FileManager.default.fileExists(atPath: watcher.seen + ".started") }, "bob's watcher started")
            return watcher
        }

        /// What bob has seen so far.
        var seenSoFar: [String] { lines(seen + ".live") }

        /// What bob saw, once the watcher has stopped.
        func finish() -> [String] {
            Shell.root("touch \(stop)")
            _ = eventually(30) { FileManager.default.fileExists(atPath: seen) }
            return lines(seen)
        }
    }

    @Test("red team 7's attack: another user watching the node's unix sockets sees criu's sockets while a job in the node's network is dumped and restored, and none of a job's of run --private-network")
    func parasiteSocketsOutOfReach() throws {
        defer { Shell.root("pkill -9 -u \(User.alice.uid); pkill -9 -u \(User.bob.uid)") }
        // Without the defence: the names are there for bob to connect to.
        // The parasite's socket lives for milliseconds; on a busy machine
        // bob's watcher may not run then: checkpoints until it saw one (at
        // most 30), and as many again for the job it must not see.
        let control = try Watcher.start()
        let (controlDir, _, _) = try Self.startStateJob("node-net", privateNetwork: false)
        var controlDumps: [Run] = []
        while controlDumps.count < 30, !control.seenSoFar.contains(where: { $0.contains("crtools-pr-") }) {
            controlDumps.append(Shell.user(.alice, "\(E2E.helper) dump --leave-running --images-dir \(controlDir)"))
        }
        let seenOnNode = control.finish()
        Shell.root("pkill -9 -u \(User.alice.uid)")
        #expect(controlDumps.allSatisfy { $0.status == 0 }, "\(controlDumps)")
        #expect(seenOnNode.contains { $0.contains("crtools-pr-") }, "bob saw criu's parasite socket of a job in the node's network, within \(controlDumps.count) dumps: \(seenOnNode)")

        // With it: as many checkpoints (at least three), a dump that ends
        // the job, a restore, and bob sees nothing of criu's.
        let watcher = try Watcher.start()
        let (dir, out, _) = try Self.startStateJob("private-net-watched", privateNetwork: true)
        var requests: [Run] = []
        for _ in 0..<max(3, controlDumps.count) { requests.append(Shell.user(.alice, "\(E2E.helper) dump --leave-running --images-dir \(dir)")) }
        requests.append(Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir)"))
        requests.append(Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)"))
        let restored = recordedJob(dir)
        let seen = watcher.finish()
        #expect(requests.allSatisfy { $0.status == 0 }, "\(requests)")
        #expect(seen.isEmpty, "bob saw criu's sockets of a private-network job: \(seen)")
        if let restored { #expect(Self.connectsInside(restored.root, out: out), "the restored job works: \(lines(out).suffix(5))") }
    }
}
