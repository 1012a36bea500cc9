import HelperCore
import Testing

@Suite("command line parsing")
struct RequestParserTests {
    let parser = RequestParser(pidMax: 32768)

    func parse(_ words: String...) throws(HelperFailure) -> Request { try parser.parse(["criu-helper"] + words) }

    @Test("dump with every option, in both spellings")
    func dump() throws {
        #expect(try parse("dump", "--pid", "42", "--images-dir", "/d", "--leave-running", "--keep", "3")
                == .dump(DumpRequest(pid: 42, imagesDirectory: "/d", leaveRunning: true, keep: 3)))
        #expect(try parse("dump", "--pid=42", "--images-dir=/d")
                == .dump(DumpRequest(pid: 42, imagesDirectory: "/d", leaveRunning: false, keep: nil)))
        #expect(try parse("dump", "--images-dir", "/d") == .dump(DumpRequest(pid: nil, imagesDirectory: "/d", leaveRunning: false, keep: nil)))
    }

    @Test("PIDs: decimal only", arguments: ["12a", "+1", " 1", "1 ", "0x1", "-1", "0", "01", "32769", "99999999999", "", "١"])
    func badPIDs(_ text: String) {
        #expect(throws: HelperFailure.self) { try parse("dump", "--pid", text, "--images-dir", "/d") }
    }

    @Test("anything else is a usage error", arguments: [
        ["dump", "--images-dir", "/d", "--leave"], ["dump", "--images-dir", "/d", "--leave-running=yes"],
        ["dump", "--images-dir", "/d", "--images-dir", "/e"], ["dump", "--pid", "1", "--images-dir", "/d", "--config=/x"],
        ["dump", "-D", "/d"], ["dump", "--images-dir"], ["restore"], ["restore", "--images-dir", "/d", "--generation", "../x"],
        ["run", "--images-dir", "/d", "sleep"], ["run", "--"], ["run", "--checkpoint-every", "5", "--", "sleep"],
        ["check", "x"], ["pre-dump"], [], ["dump", "--images-dir", "/d\nx"],
    ])
    func usageErrors(_ words: [String]) {
        #expect(throws: HelperFailure.self) { try parser.parse(["criu-helper"] + words) }
    }

    @Test("run keeps its command untouched after --")
    func run() throws {
        #expect(try parse("run", "--images-dir", "/d", "--", "sh", "-c", "--pid 1")
                == .run(RunRequest(imagesDirectory: "/d", checkpointEvery: nil, keep: nil, command: ["sh", "-c", "--pid 1"])))
    }

    @Test("run --private-network is a flag of run alone, given once, without a value")
    func privateNetwork() throws {
        #expect(try parse("run", "--private-network", "--", "sleep", "1")
                == .run(RunRequest(imagesDirectory: nil, checkpointEvery: nil, keep: nil, command: ["sleep", "1"], privateNetwork: true)))
        #expect(try parse("run", "--", "sleep", "--private-network")
                == .run(RunRequest(imagesDirectory: nil, checkpointEvery: nil, keep: nil, command: ["sleep", "--private-network"])))
        for words in [["run", "--private-network", "--private-network", "--", "sleep"], ["run", "--private-network=yes", "--", "sleep"],
                      ["dump", "--images-dir", "/d", "--private-network"], ["restore", "--images-dir", "/d", "--private-network"]] {
            #expect(throws: HelperFailure.self) { try parser.parse(["criu-helper"] + words) }
        }
    }

    @Test("caller text in messages is quoted and made visible")
    func shown() {
        #expect(RequestParser.shown("a'b\nc") == "'a\\x27b\\xac'")
    }

    @Test("every refusal is one line: control characters from anywhere (a readlink of /proc) are escaped")
    func oneLine() {
        let failure = HelperFailure(.refused, "restored task 7 runs /tmp/a\ncriu-helper: restored 1 task\u{1b}[2K\u{7f}")
        #expect(failure.message == "restored task 7 runs /tmp/a\\x0acriu-helper: restored 1 task\\x1b[2K\\x7f")
        #expect(!failure.description.contains("\n"))
    }
}

@Suite("configuration")
struct ConfigurationTests {
    @Test("a complete file")
    func parses() throws {
        let c = try Configuration.parse("""
            # comment
            criu = /opt/criu4/usr/sbin/criu
            audit = best-effort   # trailing comment
            require-no-new-privs = no
            keep = 5
            lock-timeout = 10
            criu-timeout = 120
            ghost-limit = 2G
            multi-threaded = allow
            """, path: "/etc/x")
        #expect(c.criu == "/opt/criu4/usr/sbin/criu" && c.audit == .bestEffort && !c.requireNoNewPrivileges && c.keep == 5 && c.lockTimeout == 10)
        #expect(c.criuTimeout == 120 && c.ghostLimit == 2 << 30 && c.multiThreaded == .allow)
        let defaults = try Configuration.parse("", path: "/etc/x")
        #expect(defaults.criuTimeout == 1800 && defaults.ghostLimit == 64 << 20 && defaults.multiThreaded == .refuse)
    }

    @Test("errors name the line", arguments: ["criu = relative", "audit = maybe", "keep = 0", "unknown = 1", "criu = /a\ncriu = /b", "novalue",
                                               "criu-timeout = 0", "ghost-limit = 5X", "ghost-limit = 2T", "ghost-limit = -1",
                                               "multi-threaded = yes"])
    func errors(_ text: String) {
        #expect(throws: HelperFailure.self) { try Configuration.parse(text, path: "/etc/x") }
    }

    @Test("the file sits next to the binary's prefix")
    func location() {
        #expect(Configuration.path(forExecutable: "/usr/local/bin/criu-helper") == "/usr/local/etc/criu-helper.conf")
        #expect(Configuration.path(forExecutable: "/opt/x/bin/criu-helper") == "/opt/x/etc/criu-helper.conf")
    }

    @Test("restore's options: --checkpoint-every only with --wait, --keep only with --checkpoint-every")
    func restoreOptions() throws {
        let parser = RequestParser(pidMax: 32768)
        let r = try parser.parse(["criu-helper", "restore", "--images-dir", "d", "--wait", "--checkpoint-every", "60", "--keep", "3", "--keep-output"])
        guard case .restore(let restore) = r else { Issue.record("\(r)"); return }
        #expect(restore.wait && restore.checkpointEvery == 60 && restore.keep == 3 && restore.keepOutput && restore.imagesDirectory == "d")
        #expect(throws: HelperFailure.self) { try parser.parse(["criu-helper", "restore", "--images-dir", "d", "--checkpoint-every", "60"]) }
        #expect(throws: HelperFailure.self) { try parser.parse(["criu-helper", "restore", "--images-dir", "d", "--wait", "--keep", "3"]) }
    }

    @Test("the package's /usr/bin/criu-helper reads /etc/criu-helper.conf; only /usr itself maps to /etc")
    func packageLocation() {
        #expect(Configuration.path(forExecutable: "/usr/bin/criu-helper") == "/etc/criu-helper.conf")
        #expect(Configuration.path(forExecutable: "/bin/criu-helper") == "/etc/criu-helper.conf")
        #expect(Configuration.path(forExecutable: "/usr/usr/bin/criu-helper") == "/usr/usr/etc/criu-helper.conf")
        #expect(Configuration.path(forExecutable: "/opt/usr/bin/criu-helper") == "/opt/usr/etc/criu-helper.conf")
    }

    @Test("generation names")
    func generations() {
        #expect(Generation(number: 7).name == "g000007")
        #expect(Generation.parse("g000007.partial")?.1 == .partial)
        #expect(Generation.parse("g00007") == nil && Generation.parse("x000007") == nil && Generation.parse("g0000a7") == nil)
    }
}
