/// Parses criu-helper's command line. Strict: each option spelled in full,
/// given once, `--name value` or `--name=value`; no abbreviations, no
/// bundles, no unknown options; `--` only before `run`'s command.
public struct RequestParser {
    /// /proc/sys/kernel/pid_max: the largest PID accepted.
    public var pidMax: Int32

    public init(pidMax: Int32) { self.pidMax = pidMax }

    public func parse(_ argv: [String]) throws(HelperFailure) -> Request {
        guard argv.count >= 2 else { throw .usage("no command given") }
        let command = argv[1]
        var rest = Array(argv.dropFirst(2))
        switch command {
        case "--help", "-h", "help":
            guard rest.isEmpty else { throw .usage("--help takes no arguments") }
            return .help
        case "--version":
            guard rest.isEmpty else { throw .usage("--version takes no arguments") }
            return .version
        case "check":
            guard rest.isEmpty else { throw .usage("check takes no arguments") }
            return .check
        case "dump":
            let o = try options(&rest, values: ["--pid", "--images-dir", "--keep"], flags: ["--leave-running"], command: "dump")
            guard let dir = o.values["--images-dir"] else { throw .usage("dump needs --images-dir DIR") }
            return .dump(DumpRequest(
                pid: try o.values["--pid"].map { v throws(HelperFailure) in try parsePID(v) },
                imagesDirectory: try directory(dir),
                leaveRunning: o.flags.contains("--leave-running"),
                keep: try o.values["--keep"].map { v throws(HelperFailure) in try count(v, option: "--keep", range: 1...100) }
            ))
        case "restore":
            let o = try options(&rest, values: ["--images-dir", "--generation", "--checkpoint-every", "--keep"],
                                flags: ["--wait", "--keep-output"], command: "restore")
            guard let dir = o.values["--images-dir"] else { throw .usage("restore needs --images-dir DIR") }
            let every = try o.values["--checkpoint-every"].map { v throws(HelperFailure) in
                try count(v, option: "--checkpoint-every", range: 1...31_536_000)
            }
            if every != nil && !o.flags.contains("--wait") { throw .usage("--checkpoint-every needs --wait") }
            if o.values["--keep"] != nil && every == nil { throw .usage("--keep needs --checkpoint-every") }
            return .restore(RestoreRequest(
                imagesDirectory: try directory(dir),
                wait: o.flags.contains("--wait"),
                generation: try o.values["--generation"].map { v throws(HelperFailure) in try generationName(v) },
                checkpointEvery: every,
                keep: try o.values["--keep"].map { v throws(HelperFailure) in try count(v, option: "--keep", range: 1...100) },
                keepOutput: o.flags.contains("--keep-output")
            ))
        case "list":
            let o = try options(&rest, values: ["--images-dir"], flags: [], command: "list")
            guard let dir = o.values["--images-dir"] else { throw .usage("list needs --images-dir DIR") }
            return .list(imagesDirectory: try directory(dir))
        case "run":
            guard let separator = rest.firstIndex(of: "--") else { throw .usage("run needs -- before the command") }
            var before = Array(rest[..<separator])
            let commandLine = Array(rest[(separator + 1)...])
            guard let program = commandLine.first, !program.isEmpty else { throw .usage("run needs a command after --") }
            let o = try options(&before, values: ["--images-dir", "--checkpoint-every", "--keep"], flags: ["--private-network"],
                                command: "run")
            let every = try o.values["--checkpoint-every"].map { v throws(HelperFailure) in
                try count(v, option: "--checkpoint-every", range: 1...31_536_000)
            }
            if every != nil && o.values["--images-dir"] == nil { throw .usage("--checkpoint-every needs --images-dir DIR") }
            return .run(RunRequest(
                imagesDirectory: try o.values["--images-dir"].map { v throws(HelperFailure) in try directory(v) },
                checkpointEvery: every,
                keep: try o.values["--keep"].map { v throws(HelperFailure) in try count(v, option: "--keep", range: 1...100) },
                command: commandLine,
                privateNetwork: o.flags.contains("--private-network")
            ))
        default:
            throw .usage("unknown command \(Self.shown(command))")
        }
    }

    struct Options {
        var values: [String: String] = [:]
        var flags: Set<String> = []
    }

    private func options(_ args: inout [String], values: Set<String>, flags: Set<String>, command: String) throws(HelperFailure) -> Options {
        var result = Options()
        var i = 0
        while i < args.count {
            let arg = args[i]
            var name = arg
            var inline: String? = nil
            if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
                name = String(arg[..<eq])
                inline = String(arg[arg.index(after: eq)...])
            }
            if values.contains(name) {
                guard result.values[name] == nil else { throw .usage("\(name) given twice") }
                if let inline {
                    result.values[name] = inline
                } else {
                    guard i + 1 < args.count else { throw .usage("\(name) needs a value") }
                    result.values[name] = args[i + 1]
                    i += 1
                }
            } else if flags.contains(name) {
                guard inline == nil else { throw .usage("\(name) takes no value") }
                guard result.flags.insert(name).inserted else { throw .usage("\(name) given twice") }
            } else {
                throw .usage("\(command) does not take \(Self.shown(arg))")
            }
            i += 1
        }
        args = []
        return result
    }

    /// A PID: decimal digits only, no sign, no leading zero, no spaces,
    /// 2...pid_max (1 is init and refused later with its own message).
    public func parsePID(_ text: String) throws(HelperFailure) -> Int32 {
        guard !text.isEmpty, text.utf8.count <= 10, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              text.utf8.first != 0x30, let value = Int64(text), value >= 1, value <= Int64(pidMax) else {
            throw .usage("--pid must be a process id between 1 and \(pidMax), not \(Self.shown(text))")
        }
        return Int32(value)
    }

    private func count(_ text: String, option: String, range: ClosedRange<Int>) throws(HelperFailure) -> Int {
        guard !text.isEmpty, text.utf8.count <= 9, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              text.utf8.first != 0x30, let value = Int(text), range.contains(value) else {
            throw .usage("\(option) must be a number between \(range.lowerBound) and \(range.upperBound), not \(Self.shown(text))")
        }
        return value
    }

    private func directory(_ text: String) throws(HelperFailure) -> String {
        guard !text.isEmpty else { throw .usage("--images-dir is empty") }
        guard text.utf8.count < 4096, !text.utf8.contains(0), !text.contains("\n") else {
            throw .usage("--images-dir is not a usable path")
        }
        return text
    }

    private func generationName(_ text: String) throws(HelperFailure) -> String {
        guard Generation.isValidName(text) else { throw .usage("--generation must name a generation such as g000001, not \(Self.shown(text))") }
        return text
    }

    /// A caller-supplied value in a message: quoted, control characters made visible, bounded.
    public static func shown(_ text: String) -> String {
        var out = "'"
        for scalar in text.unicodeScalars.prefix(200) {
            if scalar.value < 0x20 || scalar.value == 0x7F || scalar == "'" || scalar == "\\" {
                out += "\\x" + String(scalar.value, radix: 16)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        if text.unicodeScalars.count > 200 { out += "..." }
        return out + "'"
    }
}
