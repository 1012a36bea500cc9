import Foundation
import HelperCore
import Testing

/// The man pages (man/, mdoc) say what `criu-helper --help` and the
/// configuration parser say: the same verbs with the same options, the same
/// exit codes, the same configuration keys with the same defaults.
@Suite("man pages")
struct ManPageTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// The lines of one `.Sh` section of an mdoc page.
    static func section(_ name: String, of page: String) -> [String] {
        var inside = false
        var lines: [String] = []
        for line in page.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix(".Sh ") { inside = line == ".Sh \(name)"; continue }
            if inside { lines.append(line) }
        }
        return lines
    }

    /// Each verb of the help's usage lines with the options it names (a
    /// line that starts with `[` goes on the line above).
    static func helpVerbs() -> [String: Set<String>] {
        var verbs: [String: Set<String>] = [:]
        var previous: String? = nil
        for line in Usage.text.split(separator: "\n", omittingEmptySubsequences: false) {
            var words = line.split(separator: " ").map(String.init)
            if let verb = previous, words.first?.hasPrefix("[") == true {
                words = ["criu-helper", verb] + words
            }
            guard let at = words.firstIndex(of: "criu-helper"), at + 1 < words.count else { previous = nil; continue }
            let verb = words[at + 1]
            previous = verb
            let options = words[(at + 1)...].flatMap { $0.split(whereSeparator: { "[]|()".contains($0) }) }
                .map(String.init).filter { $0.hasPrefix("--") }
            if verb.hasPrefix("--") {
                for option in options { verbs[option, default: []] = [] }
            } else {
                verbs[verb, default: []].formUnion(options)
            }
        }
        return verbs
    }

    /// Each verb of the man page's SYNOPSIS (`.Nm` then `.Cm VERB`) with its `.Fl` options.
    static func manVerbs(_ page: String) -> [String: Set<String>] {
        var verbs: [String: Set<String>] = [:]
        var current: String? = nil
        for line in section("SYNOPSIS", of: page) {
            let words = line.split(separator: " ").map(String.init)
            if words.first == ".Nm" { current = nil; continue }
            if words.first == ".Cm", current == nil, words.count > 1 { current = words[1]; verbs[words[1]] = []; continue }
            for (index, word) in words.enumerated() where word == "Fl" || (word == ".Fl" && index == 0) {
                guard index + 1 < words.count else { continue }
                if let verb = current {
                    verbs[verb, default: []].insert("-" + words[index + 1])
                } else {
                    // `.Fl -help | -version`: options of their own.
                    for option in words.dropFirst(index + 1) where option.hasPrefix("-") { verbs["-" + option] = [] }
                }
            }
        }
        return verbs
    }

    static func helpExitCodes() -> Set<Int> {
        let lines = Usage.text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("Exit status") }) else { return [] }
        return Set(lines[(start + 1)...].compactMap { line in
            Int(line.split(separator: " ").first.map(String.init) ?? "")
        })
    }

    static func manExitCodes(_ page: String) -> Set<Int> {
        Set(section("EXIT STATUS", of: page).compactMap { line in
            line.hasPrefix(".It ") ? Int(line.dropFirst(4)) : nil
        })
    }

    @Test("criu-helper(1) and --help name the same verbs, each with the same options")
    func verbsAndOptions() throws {
        let page = try Self.text("man/criu-helper.1")
        let help = Self.helpVerbs(), man = Self.manVerbs(page)
        #expect(Set(help.keys) == ["dump", "restore", "run", "list", "check", "--help", "--version"])
        #expect(help == man)
        // Every verb also has its own entry in COMMANDS.
        let commands = Self.section("COMMANDS", of: page)
        for verb in help.keys where !verb.hasPrefix("--") {
            #expect(commands.contains { $0.hasPrefix(".It Cm \(verb)") }, "no COMMANDS entry for \(verb)")
        }
    }

    @Test("criu-helper(1) and --help list the same exit codes, and they are ExitCode's")
    func exitCodes() throws {
        let page = try Self.text("man/criu-helper.1")
        let all: Set<Int> = [0, 1, 64, 69, 70, 77]
        #expect(Self.helpExitCodes() == all)
        #expect(Self.manExitCodes(page) == all)
        #expect(Set(all.compactMap { ExitCode(rawValue: Int32($0)) }.map { Int($0.rawValue) }) == all)
    }

    @Test("criu-helper.conf(5) documents every key the parser takes, with its default")
    func configurationKeys() throws {
        let page = try Self.text("man/criu-helper.conf.5")
        let parser = try Self.text("Sources/HelperCore/Installation/Configuration.swift")
        let parsed = Set(parser.split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("case \""), let end = trimmed.dropFirst(6).firstIndex(of: "\"") else { return nil }
            return String(trimmed[trimmed.index(trimmed.startIndex, offsetBy: 6)..<end])
        })
        // Each key's item: `.It Cm KEY No = ...` up to the next `.It`, macros dropped.
        var items: [String: String] = [:]
        var key: String? = nil
        for line in Self.section("KEYS", of: page) {
            if line.hasPrefix(".It Cm ") {
                key = line.split(separator: " ")[2].description
                items[key!] = ""
            } else if let key {
                let words = line.split(separator: " ").filter { !$0.hasPrefix(".") && !["Pa", "Cm", "Ql", "Dv"].contains($0) }
                items[key, default: ""] += " " + words.joined(separator: " ")
            }
        }
        #expect(Set(items.keys) == parsed)
        let defaults = Configuration()
        let expected: [String: String] = [
            "criu": defaults.criu, "audit": defaults.audit.rawValue,
            "require-no-new-privs": defaults.requireNoNewPrivileges ? "yes" : "no",
            "keep": "\(defaults.keep)", "lock-timeout": "\(defaults.lockTimeout)",
            "criu-timeout": "\(defaults.criuTimeout)", "max-tasks": "\(defaults.maximumTasks)",
            "ghost-limit": defaults.ghostLimit % (1 << 20) == 0 ? "\(defaults.ghostLimit >> 20)M" : "\(defaults.ghostLimit)",
            "max-threads": "\(defaults.maximumThreads)", "multi-threaded": defaults.multiThreaded.rawValue,
        ]
        for (name, value) in expected {
            let text = items[name] ?? ""
            let stated = text.range(of: "Default:").map { text[$0.upperBound...].split(separator: " ").first.map(String.init) ?? "" }
            #expect(stated?.trimmingCharacters(in: CharacterSet(charactersIn: ".")) == value, "\(name): \(text)")
        }
    }
}
