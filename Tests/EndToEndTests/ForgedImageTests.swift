import CriuImages
import Foundation
import ImageForging
import Testing

/// Defence 7: restore never trusts the images. A real checkpoint of one of
/// alice's jobs is taken once; each test copies it, forges one thing, and
/// expects a refusal (77) naming it, an audit record, and no process started.
@Suite("forged and malformed images", .serialized, .enabled(if: E2E.enabled))
struct ForgedImageTests {
    static let base = "\(User.alice.home)/e2e/forge-base"

    /// The real generation to forge from (made on first use).
    static func baseGeneration() -> String? {
        let gen = "\(base)/g000001"
        if FileManager.default.fileExists(atPath: "\(gen)/pstree.img") { return gen }
        Shell.root("rm -rf \(base); mkdir -p \(User.alice.home)/e2e; chown \(User.alice.name): \(User.alice.home)/e2e")
        let out = "\(User.alice.home)/e2e/forge.out"
        guard let job = Job.start(.alice, "\(E2E.bin)/ch-count", output: out) else { return nil }
        defer { job.kill() }
        // Dumped in its loop, once it has counted.
        guard eventually(20, { counter(out) >= 0 }) else { return nil }
        let run = Shell.user(.alice, "\(E2E.helper) dump --pid \(job.pid) --images-dir \(base) --leave-running")
        return run.status == 0 ? gen : nil
    }

    /// Copies the base generation into a fresh images directory, applies
    /// `forge` (as root, to the copy), restores it as alice.
    func expectRefusal(_ text: String, sourceLocation: SourceLocation = #_sourceLocation,
                       _ forge: (ImageForge) -> Void) {
        guard let gen = Self.baseGeneration() else { Issue.record("no base checkpoint", sourceLocation: sourceLocation); return }
        let dir = User.alice.scratch("forged")
        Shell.root("mkdir -p \(dir) && cp -a \(gen) \(dir)/g000001 && rm -f \(dir)/g000001/*.log && chown -R \(User.alice.name): \(dir) && chmod 700 \(dir)")
        forge(ImageForge(directory: "\(dir)/g000001"))
        Shell.root("chown -R \(User.alice.name): \(dir)/g000001")
        // Processes of alice's that exist after the refusal and not before
        // (one left over from an earlier test may end meanwhile).
        let before = Set(Shell.root("pgrep -u \(User.alice.uid)").stdout.split(separator: "\n"))
        let audit = AuditLog.mark()
        let run = Shell.user(.alice, "\(E2E.helper) restore --images-dir \(dir)")
        #expect(run.status == 77, "\(run)", sourceLocation: sourceLocation)
        #expect(run.message.hasPrefix("criu-helper: refused: "), sourceLocation: sourceLocation)
        #expect(run.message.contains(text), "\(run.message)", sourceLocation: sourceLocation)
        #expect(run.stdout.isEmpty, sourceLocation: sourceLocation)
        let started = Set(Shell.root("pgrep -u \(User.alice.uid)").stdout.split(separator: "\n")).subtracting(before)
        #expect(started.isEmpty, "a process was started: \(started)", sourceLocation: sourceLocation)
        #expect(audit.records(containing: dir).contains { $0.contains("op=restore") && $0.contains("res=failed") },
                sourceLocation: sourceLocation)
    }

    var root: Int32 { Self.baseGeneration().map { ImageForge(directory: $0).rootPID } ?? 0 }

    @Test("CAP_SYS_ADMIN in cap_eff")
    func capEff() { let r = root; expectRefusal("holds capabilities (CapEff 0000000000200000)") { $0.editCredentials(r) { $0.removing(11).adding(11, .varint(0x20_0000)).adding(11, .varint(0)) } } }

    @Test("capabilities in cap_prm, packed encoding")
    func capPrmPacked() {
        let r = root
        expectRefusal("holds capabilities (CapPrm 0000010000000000)") {
            $0.editCredentials(r) { $0.removing(10).adding(10, .bytes(ArraySlice(Wire.varint(0) + Wire.varint(0x100)))) }
        }
    }

    @Test("capabilities in cap_amb and cap_inh", arguments: [(UInt32(19), "CapAmb"), (9, "CapInh")])
    func otherCapabilitySets(_ field: UInt32, _ name: String) {
        let r = root
        expectRefusal("holds capabilities (\(name) 0000000000080000)") { $0.editCredentials(r) { $0.removing(field).adding(field, .varint(0x8_0000)) } }
    }

    @Test("a second creds message in the thread core")
    func duplicatedCreds() {
        let r = root
        expectRefusal("creds occurs 2 times") { forge in
            forge.rewrite("core-\(r).img") { cores in
                cores.map { core in
                    core.editing(5) { thread in
                        let creds = thread.occurrences(10)[0]
                        guard case .bytes(let b) = creds.value, let m = try? ProtobufMessage(decoding: b) else { return thread }
                        let evil = m.removing(11).adding(11, .varint(0x20_0000))
                        return thread.adding(10, .bytes(ArraySlice(evil.bytes)))
                    }
                }
            }
        }
    }

    @Test("no creds in the core (criu would read a legacy creds image)")
    func missingCreds() { let r = root; expectRefusal("has no credentials in its core") { $0.rewrite("core-\(r).img") { $0.map { $0.editing(5) { $0.removing(10) } } } } }

    @Test("a legacy creds image next to the core")
    func legacyCredsFile() { let r = root; expectRefusal("legacy credentials image") { $0.write("creds-\(r).img", Wire.image(magic: 0x5402_3547, entries: [[]])) } }

    @Test("uid 0 in the credentials", arguments: [(UInt32(1), "uid"), (3, "euid"), (5, "suid"), (7, "fsuid")])
    func rootUID(_ field: UInt32, _ name: String) { let r = root; expectRefusal("has \(name) 0, not the caller's") { $0.editCredentials(r) { $0.setting(field, 0) } } }

    @Test("a foreign gid and a foreign supplementary group")
    func foreignGroups() {
        let r = root
        expectRefusal("has egid 0") { $0.editCredentials(r) { $0.setting(4, 0) } }
        expectRefusal("has supplementary group 27") { $0.editCredentials(r) { $0.adding(14, .varint(27)) } }
    }

    @Test("securebits and an LSM profile")
    func securebitsAndLSM() {
        let r = root
        expectRefusal("securebits") { $0.editCredentials(r) { $0.setting(13, 0x2f) } }
        expectRefusal("LSM profile") { $0.editCredentials(r) { $0.adding(15, .bytes(ArraySlice("sysadm_t".utf8))) } }
    }

    @Test("namespace ids that differ from the inventory's root ids", arguments: [UInt32(9), 5, 10, 6])
    func namespaceIDs(_ field: UInt32) {
        let r = root
        expectRefusal("namespace than the dump's root") { forge in
            forge.rewrite("ids-\(r).img") { $0.map { $0.setting(field, 0xdead) } }
        }
    }

    @Test("mount, network and other namespace images", arguments: [("mountpoints-12.img", "mount namespace content"), ("netns-3.img", "network namespace"),
                                                                    ("userns-1.img", "user namespace"), ("bpfmap-file.img", "BPF maps"), ("cgroup.img", "cgroups")])
    func namespaceImages(_ name: String, _ text: String) { expectRefusal(text) { $0.write(name, Wire.image(magic: 1, entries: [[]])) } }

    @Test("file paths into /proc, /sys and /dev, however spelled", arguments: [
        ("/proc/1/root/etc/shadow", "path is in /proc"), ("/dev/sda", "device or in /dev"), ("/home/x/../../etc/shadow", "'..' component"),
        ("//proc/self/pagemap", "not canonical (an empty component)"), ("/./proc/self/pagemap", "'.' component"),
        ("/proc/", "not canonical"), ("/sys/kernel/notes", "path is in /sys"),
        // The spelling passes; the kernel would reach /proc through alice's link.
        ("\(User.alice.home)/e2e/via-link/self/pagemap", "path goes through a symbolic link"),
    ])
    func filePaths(_ path: String, _ text: String) {
        Shell.user(.alice, "ln -sfn /proc \(User.alice.home)/e2e/via-link")
        expectRefusal(text) { forge in
            forge.rewrite("files.img") { entries in
                var done = false
                return entries.map { entry in
                    guard !done, (try? entry.requiredUInt32(1, "type")) == 1 else { return entry }
                    done = true
                    return entry.editing(3) { $0.removing(6).adding(6, .bytes(ArraySlice(path.utf8))) }
                }
            }
        }
    }

    @Test("the executable a task shows: a set-user-ID program is refused")
    func setUIDExecutable() {
        let r = root
        expectRefusal("executable is set-user-ID or set-group-ID: \"/usr/bin/passwd\"") { forge in
            // The file criu would make /proc/PID/exe with PR_SET_MM_MAP.
            let exe = forge.entries("mm-\(r).img").entries.first.flatMap { try? $0.requiredUInt32(12, "exe_file_id") } ?? 0
            forge.rewrite("files.img") { entries in
                entries.map { entry in
                    guard (try? entry.requiredUInt32(2, "id")) == exe else { return entry }
                    return entry.editing(3) { $0.removing(6).adding(6, .bytes(ArraySlice("/usr/bin/passwd".utf8))) }
                }
            }
        }
    }

    @Test("a memfd of a set-user-ID mode, and pages in a parent generation, are refused")
    func memfdModeAndParentPages() {
        let r = root
        expectRefusal("memfd of mode 4755") { forge in
            let inode: [ProtobufMessage.Field] = [
                .init(number: 1, value: .bytes(ArraySlice("x".utf8))), .init(number: 2, value: .varint(UInt64(User.alice.uid))),
                .init(number: 3, value: .varint(UInt64(User.alice.uid))), .init(number: 4, value: .varint(0)),
                .init(number: 5, value: .varint(1)), .init(number: 6, value: .varint(0)), .init(number: 7, value: .varint(1)),
                .init(number: 9, value: .varint(0o4755)),
            ]
            forge.write("memfd.img", Wire.image(magic: 0x4845_3499, entries: [Wire.encode(inode)]))
        }
        expectRefusal("pages are in a parent generation") { forge in
            forge.rewrite("pagemap-\(r).img") { entries in
                entries.enumerated().map { $0.offset == 0 ? $0.element : $0.element.setting(4, 1) }
            }
        }
    }

    @Test("criu plugins named in the inventory")
    func plugins() {
        expectRefusal("criu plugins") { forge in
            forge.rewrite("inventory.img", common: false) { $0.map { $0.removing(12).adding(12, .bytes(ArraySlice(Wire.encode([.init(number: 12, value: .bytes(ArraySlice("cuda".utf8)))])))) } }
        }
    }

    @Test("an unknown image and a seccomp filter")
    func unknownAndSeccomp() {
        expectRefusal("evil.img is not an image criu-helper restores") { $0.write("evil.img", [1, 2, 3]) }
        expectRefusal("seccomp filters") { $0.write("seccomp.img", Wire.image(magic: 0x6441_3049, entries: [Wire.encode([.init(number: 1, value: .bytes([10, 1, 0]))])])) }
    }

    @Test("malformed: bad magic, truncated entry, trailing garbage, huge entry, unknown wire type")
    func malformed() {
        let r = root
        expectRefusal("bad magic") { f in var b = f.read("core-\(r).img"); b[5] ^= 0xFF; f.write("core-\(r).img", b) }
        expectRefusal("truncated entry") { f in let b = f.read("core-\(r).img"); f.write("core-\(r).img", Array(b.dropLast(20))) }
        expectRefusal("trailing bytes") { f in f.write("pstree.img", f.read("pstree.img") + [1, 2]) }
        expectRefusal("entry of") { f in f.write("pstree.img", Array(f.read("pstree.img").prefix(8)) + Wire.le32(0x7fff_ffff) + [0]) }
        expectRefusal("wire type") { f in f.write("inventory.img", Wire.le32(0x5831_3116) + Wire.le32(2) + [0x0b, 0x00]) }
    }

    @Test("thousands of tasks in pstree.img")
    func thousandsOfTasks() {
        expectRefusal("more than 4096 entries") { forge in
            let entries = (0..<5000).map { i in Wire.encode([.init(number: 1, value: .varint(UInt64(1000 + i))), .init(number: 2, value: .varint(1)),
                                                              .init(number: 3, value: .varint(1)), .init(number: 4, value: .varint(1)),
                                                              .init(number: 5, value: .varint(UInt64(1000 + i)))]) }
            forge.write("pstree.img", Wire.image(magic: 0x5027_3030, entries: entries))
        }
    }

    @Test("an image swapped after the check: criu reads the copy that was validated, not the caller's file")
    func swappedAfterCheck() throws {
        let gen = try #require(Self.baseGeneration())
        let dir = User.alice.scratch("swap")
        Shell.root("mkdir -p \(dir) && cp -a \(gen) \(dir)/g000001 && rm -f \(dir)/g000001/*.log && chown -R \(User.alice.name): \(dir) && chmod 700 \(dir)")
        let r = root
        let core = "core-\(r).img"
        // The forged core: CAP_SYS_ADMIN in cap_eff, readable by alice.
        let forged = "/tmp/e2e-swap-forged"
        Shell.root("rm -rf \(forged) && cp -a \(gen) \(forged)")
        ImageForge(directory: forged).editCredentials(r) { $0.removing(11).adding(11, .varint(0x20_0000)) }
        Shell.root("chmod -R a+rX \(forged)")
        Probe.reset(.alice)
        Probe.setMode("swap \(core) \(dir)/g000001/\(core) \(forged)/\(core)")
        defer { Probe.setMode("ok") }
        let run = Shell.user(.alice, "\(E2E.probeHelper) restore --images-dir \(dir)")
        let report = Probe.report(for: .alice)
        #expect(report.contains("swapped=yes"), "the caller's file was replaced while criu ran: \(report)")
        #expect(report.contains("staged-\(core)=validated"), "criu must read what was validated: \(report)")
        #expect(run.status != 0, "\(run)")
    }

    @Test("a forged zombie: a child without threads, with no core or a core that is not a zombie's")
    func forgedZombie() {
        let r = root
        let child = ProtobufMessage(fields: [.init(number: 1, value: .varint(9999)), .init(number: 2, value: .varint(UInt64(r))),
                                             .init(number: 3, value: .varint(UInt64(r))), .init(number: 4, value: .varint(UInt64(r))),
                                             .init(number: 5, value: .varint(80))])
        expectRefusal("pid 9999 is not among its own threads") { $0.rewrite("pstree.img") { $0 + [child] } }
        // The root's own (live) core under the child's name is not a zombie's.
        expectRefusal("pid 9999 is not among its own threads") { forge in
            forge.rewrite("pstree.img") { $0 + [child] }
            forge.write("core-9999.img", forge.read("core-\(r).img"))
        }
    }

    @Test("a symbolic link in the generation instead of a page file")
    func symlinkedPages() {
        expectRefusal("is a symbolic link") { forge in
            Shell.root("cd \(forge.directory) && rm -f pages-1.img && ln -s /etc/shadow pages-1.img && chown -h \(User.alice.name): pages-1.img")
        }
    }
}
