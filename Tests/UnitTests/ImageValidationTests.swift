import Credentials
import CriuImages
import ImageForging
import Testing

/// The image checks on hand-built images (the end-to-end suite forges real ones).
@Suite("image validation")
struct ImageValidationTests {
    static let caller = CredentialRule(uid: 1001, groups: [1001, 100], requireNoNewPrivileges: true)

    /// creds_entry of the caller, no capabilities, no_new_privs.
    static func creds(_ tweak: (inout [ProtobufMessage.Field]) -> Void = { _ in }) -> [UInt8] {
        var f: [ProtobufMessage.Field] = (1...8).map { .init(number: UInt32($0), value: .varint(1001)) }
        f += [.init(number: 9, value: .varint(0)), .init(number: 10, value: .varint(0)), .init(number: 11, value: .varint(0)),
              .init(number: 12, value: .varint(0xFFFF_FFFF)), .init(number: 13, value: .varint(0)),
              .init(number: 14, value: .varint(100)), .init(number: 18, value: .varint(1))]
        tweak(&f)
        return Wire.encode(f)
    }

    /// core-TID.img with `credsBytes` (or none).
    static func core(creds credsBytes: [UInt8]?, leader: Bool = true, extraThreadCore: [ProtobufMessage.Field] = []) -> [UInt8] {
        var thread: [ProtobufMessage.Field] = [.init(number: 1, value: .varint(0)), .init(number: 2, value: .varint(0))]
        if let credsBytes { thread.append(.init(number: 10, value: .bytes(ArraySlice(credsBytes)))) }
        thread += extraThreadCore
        var core: [ProtobufMessage.Field] = [.init(number: 1, value: .varint(1)), .init(number: 2, value: .bytes([]))]
        if leader { core.append(.init(number: 3, value: .bytes(ArraySlice(Wire.encode([.init(number: 1, value: .varint(1))]))))) }
        core.append(.init(number: 5, value: .bytes(ArraySlice(Wire.encode(thread)))))
        return Wire.image(magic: 0x5505_3847, entries: [Wire.encode(core)])
    }

    func check(_ bytes: [UInt8]) throws(ImageError) {
        let image = try CoreImage(bytes, isLeader: true, who: "task 42")
        try image.credentials.check(against: Self.caller, who: "task 42")
    }

    @Test("the caller's own credentials pass")
    func cleanCredentials() throws { try check(Self.core(creds: Self.creds())) }

    @Test("each forged credential is refused", arguments: [
        (UInt32(11), UInt64(0x20_0000), "CapEff"), (10, 0x40_0000, "CapPrm"), (9, 1, "CapInh"), (19, 0x8_0000, "CapAmb"),
        (3, 0, "euid 0"), (1, 0, "uid 0"), (7, 0, "fsuid 0"), (4, 0, "egid 0"), (14, 27, "supplementary group 27"), (13, 1, "securebits"),
    ])
    func forgedCredentials(_ field: UInt32, _ value: UInt64, _ text: String) {
        let bytes = Self.core(creds: Self.creds { f in
            if ![9, 10, 11, 14, 19].contains(field) { f.removeAll { $0.number == field } }
            f.append(.init(number: field, value: .varint(value)))
        })
        #expect(throws: ImageError.self) { try check(bytes) }
        do { try check(bytes) } catch { #expect("\(error)".contains(text), "\(error)") }
    }

    @Test("capabilities hidden in a packed run are found")
    func packedCapabilities() {
        let run = Wire.varint(0) + Wire.varint(0x100)
        let bytes = Self.core(creds: Self.creds { f in
            f.removeAll { $0.number == 10 }
            f.append(.init(number: 10, value: .bytes(ArraySlice(run))))
        })
        do { try check(bytes); Issue.record("accepted") } catch { #expect("\(error)".contains("holds capabilities (CapPrm 0000010000000000)"), "\(error)") }
        let third = Wire.varint(0) + Wire.varint(0) + Wire.varint(1)
        let beyond = Self.core(creds: Self.creds { $0.append(.init(number: 11, value: .bytes(ArraySlice(third)))) })
        do { try check(beyond); Issue.record("accepted") } catch { #expect("\(error)".contains("capability words beyond"), "\(error)") }
    }

    @Test("a second creds message is refused, not merged")
    func duplicateCreds() {
        let evil = Self.creds { $0.append(.init(number: 11, value: .varint(0x20_0000))) }
        let bytes = Self.core(creds: Self.creds(), extraThreadCore: [.init(number: 10, value: .bytes(ArraySlice(evil)))])
        do { try check(bytes); Issue.record("accepted") } catch { #expect("\(error)".contains("creds occurs 2 times")) }
    }

    @Test("a core without creds is refused (no fall-back to creds-TID.img)")
    func missingCreds() {
        do { try check(Self.core(creds: nil)); Issue.record("accepted") } catch { #expect("\(error)".contains("no credentials in its core")) }
    }

    @Test("no_new_privs must be recorded when policy requires it")
    func noNewPrivs() {
        let bytes = Self.core(creds: Self.creds { f in f.removeAll { $0.number == 18 } })
        do { try check(bytes); Issue.record("accepted") } catch { #expect("\(error)".contains("no_new_privs")) }
    }

    @Test("unknown fields in creds are refused")
    func unknownCredsField() {
        let bytes = Self.core(creds: Self.creds { $0.append(.init(number: 40, value: .varint(1))) })
        do { try check(bytes); Issue.record("accepted") } catch { #expect("\(error)".contains("unknown field 40")) }
    }

    @Test("framing: bad magics, trailing bytes, truncated and huge entries")
    func framing() {
        let good = Self.core(creds: Self.creds())
        var badHead = good; badHead[0] ^= 1
        var badMagic = good; badMagic[4] ^= 1
        let cases: [([UInt8], String)] = [
            (badHead, "bad head magic"), (badMagic, "bad magic"), (good + [1, 2], "trailing bytes"),
            (Array(good.dropLast(3)), "truncated entry"), (Array(good.prefix(8)) + Wire.le32(100 << 20), "entry of"),
        ]
        for (bytes, text) in cases {
            do { try check(bytes); Issue.record("accepted: \(text)") } catch { #expect("\(error)".contains(text), "\(error)") }
        }
    }

    @Test("image names: allowed, refused with a reason, or not images", arguments: [
        ("core-42.img", true), ("pages-1.img", true), ("fdinfo-2.img", true), ("ghost-file-1a.img", true), ("seccomp.img", true),
        ("creds-42.img", false), ("mountpoints-12.img", false), ("netns-1.img", false), ("userns-1.img", false),
        ("core-042.img", false), ("core-4x.img", false), ("cgroup.img", false), ("whatever.img", false),
    ])
    func imageNames(_ name: String, _ allowed: Bool) {
        switch ImageKind.classify(name) {
        case .image: #expect(allowed)
        case .refused: #expect(!allowed)
        case .other: Issue.record("\(name) not recognised as an image name")
        }
        #expect(ImageKind.classify("dump.log") == .other)
        #expect(ImageKind.classify("stats-dump") == .other)
    }

    @Test("file paths criu would open with capabilities", arguments: [
        ("/home/alice/out.txt", true), ("/", true), ("/dev/null", true), ("/dev/shm/mpi-1", true),
        ("/proc/1/root/etc/shadow", false), ("/proc", false), ("/dev/sda", false), ("/dev/shm/", false),
        ("relative/path", false), ("/home/../etc/shadow", false), ("/home/./x", false),
        ("//proc/self/pagemap", false), ("/./proc/self/pagemap", false), ("/home/alice/", false), ("/home//alice", false),
        ("/sys/kernel/notes", false), ("/proc/", false),
    ])
    func paths(_ path: String, _ allowed: Bool) {
        #expect(((try? PathPolicy.check(path, what: "file")) != nil) == allowed)
    }

    @Test("pstree: unique pids and threads, parents inside, bounded")
    func pstree() {
        func entry(_ pid: UInt64, _ ppid: UInt64, threads: [UInt64]? = nil) -> [UInt8] {
            Wire.encode([.init(number: 1, value: .varint(pid)), .init(number: 2, value: .varint(ppid)), .init(number: 3, value: .varint(pid)),
                         .init(number: 4, value: .varint(pid))] + (threads ?? [pid]).map { .init(number: 5, value: .varint($0)) })
        }
        func read(_ entries: [[UInt8]], max: Int = 10, zombies: Set<UInt32> = []) throws(ImageError) -> [ProcessEntry] {
            try ProcessEntry.readTree(Wire.image(magic: 0x5027_3030, entries: entries), maximumTasks: max, maximumThreads: 100,
                                      pidMax: 32768) { zombies.contains($0) }
        }
        // A zombie, as criu 4.1.1 writes it (one arbitrary thread id), confirmed by its core.
        let withZombie = try? read([entry(10, 1), entry(11, 10, threads: [80])], zombies: [11])
        #expect(withZombie?.map(\.isZombie) == [false, true] && withZombie?[1].threads == [])
        #expect(throws: ImageError.self) { try read([entry(10, 1), entry(11, 10, threads: [80])]) }
        #expect(throws: ImageError.self) { try read([entry(10, 1, threads: [80])], zombies: [10]) }
        #expect(throws: ImageError.self) { try read([entry(10, 1), entry(11, 10, threads: [80, 81])], zombies: [11]) }
        #expect((try? read([entry(10, 1), entry(11, 10)]))?.count == 2)
        #expect(throws: ImageError.self) { try read([entry(10, 1), entry(10, 1)]) }
        #expect(throws: ImageError.self) { try read([entry(10, 1), entry(11, 99)]) }
        #expect(throws: ImageError.self) { try read([entry(10, 1, threads: [11])]) }
        #expect(throws: ImageError.self) { try read([entry(10, 1), entry(11, 10, threads: [11, 10])]) }
        #expect(throws: ImageError.self) { try read([entry(40000, 1)]) }
        #expect(throws: ImageError.self) { try read((0..<11).map { entry(UInt64(100 + $0), $0 == 0 ? 1 : 100) }) }
    }

    @Test("a zombie's core: a task core saying TASK_DEAD and nothing else")
    func deadTaskCore() {
        let magic = ImageKind.core(0).magic!
        func core(state: UInt64, extra: [ProtobufMessage.Field] = []) -> [UInt8] {
            let tc = Wire.encode([.init(number: 1, value: .varint(state)), .init(number: 2, value: .varint(0)),
                                  .init(number: 3, value: .varint(0)), .init(number: 4, value: .varint(0)),
                                  .init(number: 5, value: .varint(0)), .init(number: 6, value: .bytes(ArraySlice("sleep".utf8)))])
            return Wire.image(magic: magic, entries: [Wire.encode([.init(number: 1, value: .varint(1)), .init(number: 3, value: .bytes(ArraySlice(tc)))] + extra)])
        }
        #expect(CoreImage.isDeadTask(core(state: 2)))
        #expect(!CoreImage.isDeadTask(core(state: 1)), "alive")
        #expect(!CoreImage.isDeadTask(core(state: 2, extra: [.init(number: 5, value: .bytes([]))])), "with a thread_core")
        #expect(!CoreImage.isDeadTask(core(state: 2, extra: [.init(number: 3, value: .bytes([8, 2]))])), "a second task core")
        #expect(!CoreImage.isDeadTask(Array(core(state: 2).dropLast(2))), "truncated")
        func deadWith(_ field: UInt32) -> [UInt8] {
            let tc = Wire.encode([.init(number: 1, value: .varint(2)), .init(number: 2, value: .varint(0)), .init(number: field, value: .varint(3))])
            return Wire.image(magic: magic, entries: [Wire.encode([.init(number: 1, value: .varint(1)), .init(number: 3, value: .bytes(ArraySlice(tc)))])])
        }
        #expect(!CoreImage.isDeadTask(deadWith(9)), "a cgroup set")
        #expect(!CoreImage.isDeadTask(deadWith(11)), "a seccomp mode")
    }

    /// An inet_sk_entry: a TCP listener on 0.0.0.0:8080 unless `tweak` changes it.
    static func inetSocket(_ tweak: (inout [ProtobufMessage.Field]) -> Void = { _ in }) -> ProtobufMessage {
        let opts = Wire.encode((1...6).map { ProtobufMessage.Field(number: UInt32($0), value: .varint(0)) })
        var f: [ProtobufMessage.Field] = [
            .init(number: 1, value: .varint(7)), .init(number: 2, value: .varint(1234)), .init(number: 3, value: .varint(2)),
            .init(number: 4, value: .varint(1)), .init(number: 5, value: .varint(6)), .init(number: 6, value: .varint(10)),
            .init(number: 7, value: .varint(8080)), .init(number: 8, value: .varint(0)), .init(number: 9, value: .varint(0)),
            .init(number: 10, value: .varint(128)), .init(number: 11, value: .varint(0)),
            .init(number: 13, value: .bytes(ArraySlice(Wire.encode([])))), .init(number: 14, value: .bytes(ArraySlice(opts))),
        ]
        tweak(&f)
        return ProtobufMessage(fields: f)
    }

    static let network = InetSocketPolicy(unprivilegedPortStart: 1024)

    func checkSocket(_ sk: ProtobufMessage) throws(ImageError) {
        let entry = Wire.encode([.init(number: 1, value: .varint(4)), .init(number: 2, value: .varint(7)),
                                 .init(number: 4, value: .bytes(ArraySlice(sk.bytes)))])
        _ = try FileTable(filesImage: Wire.image(magic: 0x5630_3138, entries: [entry]), caller: Self.caller, network: Self.network)
    }

    @Test("network sockets: a TCP listener and UDP on unprivileged ports pass, on any address (IP_FREEBIND needs no capability)")
    func socketsAccepted() throws {
        try checkSocket(Self.inetSocket())
        try checkSocket(Self.inetSocket { f in f.removeAll { $0.number == 11 }; f.append(.init(number: 11, value: .varint(0x0100_007F))) })
        try checkSocket(Self.inetSocket { f in f.removeAll { $0.number == 11 }; f.append(.init(number: 11, value: .varint(0x6363_630A))) })
        try checkSocket(Self.inetSocket { f in
            f.removeAll { [4, 5, 6].contains($0.number) }
            f += [.init(number: 4, value: .varint(2)), .init(number: 5, value: .varint(17)), .init(number: 6, value: .varint(7))]
        })
    }

    @Test("network sockets the caller could not make are refused", arguments: [
        (UInt32(7), UInt64(80), "below ip_unprivileged_port_start"),
        (6, 1, "an established TCP connection"),
        (4, 3, "a raw or other socket"),
        (3, 17, "of address family 17"),
    ])
    func socketsRefused(_ field: UInt32, _ value: UInt64, _ text: String) {
        let sk = Self.inetSocket { f in f.removeAll { $0.number == field }; f.append(.init(number: field, value: .varint(value))) }
        do { try checkSocket(sk); Issue.record("accepted") } catch { #expect("\(error)".contains(text), "\(error)") }
    }

    @Test("socket options that need a capability are refused")
    func socketOptionsRefused() {
        for (field, value, text) in [(UInt32(10), ProtobufMessage.Value.varint(1), "SO_MARK"), (8, .varint(7), "priority 7"),
                                     (15, .bytes(ArraySlice("eth0".utf8)), "SO_BINDTODEVICE")] {
            let opts = Wire.encode((1...6).map { ProtobufMessage.Field(number: UInt32($0), value: .varint(0)) } + [.init(number: field, value: value)])
            let sk = Self.inetSocket { f in f.removeAll { $0.number == 14 }; f.append(.init(number: 14, value: .bytes(ArraySlice(opts)))) }
            do { try checkSocket(sk); Issue.record("accepted: \(text)") } catch { #expect("\(error)".contains(text), "\(error)") }
        }
    }

    /// A files.img entry holding pidfd_entry (file_entry field 22): id 1,
    /// flags, nspid as criu writes it (int32: -1 as ten bytes).
    func pidfdTable(flags: UInt64, nspid: UInt64) throws(ImageError) -> FileTable {
        let pidfd = Wire.encode([.init(number: 1, value: .varint(9)), .init(number: 2, value: .varint(1)),
                                 .init(number: 3, value: .varint(flags)), .init(number: 4, value: .varint(nspid)),
                                 .init(number: 5, value: .bytes(ArraySlice(Wire.encode([]))))])
        let entry = Wire.encode([.init(number: 1, value: .varint(20)), .init(number: 2, value: .varint(9)),
                                 .init(number: 22, value: .bytes(ArraySlice(pidfd)))])
        return try FileTable(filesImage: Wire.image(magic: 0x5630_3138, entries: [entry]), caller: Self.caller)
    }

    @Test("pidfds: of a live process or of an ended one (nspid -1, ten bytes); other negative or oversized pids and PIDFD_THREAD are refused")
    func pidfds() throws {
        #expect(try pidfdTable(flags: 0o2, nspid: 42).pidfdTargets[9] == .some(42))
        #expect(try pidfdTable(flags: 0o2000002, nspid: UInt64.max).pidfdTargets[9] == .some(nil), "nspid -1: an ended process")
        for (flags, nspid, text) in [(UInt64(0o2), UInt64(0x8000_0000), "does not fit in 32 bits"),
                                     (0o2, UInt64(bitPattern: -2), "names pid -2"),
                                     (0o2, 0, "names pid 0"),
                                     (0o2 | 0o200, 42, "has flags")] {
            do { _ = try pidfdTable(flags: flags, nspid: nspid); Issue.record("accepted \(text)") } catch {
                #expect("\(error)".contains(text), "\(error)")
            }
        }
    }

    /// pagemap-PID.img as criu 4.1 (nr_pages in field 2) and criu 4.2 (field 2
    /// kept as compat_nr_pages, the real count in field 5) write it.
    static func pagemap(_ entry: [ProtobufMessage.Field]) -> [UInt8] {
        Wire.image(magic: 0x5608_4025, entries: [Wire.encode([.init(number: 1, value: .varint(1))]), Wire.encode(entry)])
    }

    @Test("pagemaps of criu 4.1 and 4.2 pass; parent pages and unknown fields do not")
    func pagemaps() throws {
        let base: [ProtobufMessage.Field] = [.init(number: 1, value: .varint(0x7f00_0000_0000)), .init(number: 2, value: .varint(16)),
                                             .init(number: 4, value: .varint(0x4))]
        #expect(try ImageValidator.checkPagemap(Self.pagemap(base)) == false)
        #expect(try ImageValidator.checkPagemap(Self.pagemap(base + [.init(number: 5, value: .varint(16))])) == false)
        #expect(try ImageValidator.checkPagemap(Self.pagemap(Array(base.dropLast()) + [.init(number: 4, value: .varint(0x1))])) == true)
        #expect(try ImageValidator.checkPagemap(Self.pagemap(base + [.init(number: 3, value: .varint(1))])) == true)
        do { _ = try ImageValidator.checkPagemap(Self.pagemap(base + [.init(number: 6, value: .varint(1))])); Issue.record("accepted") }
        catch { #expect("\(error)".contains("unknown field 6"), "\(error)") }
    }
}
