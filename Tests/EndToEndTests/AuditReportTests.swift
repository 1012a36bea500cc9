import Foundation
import Testing

/// criu-helper-audit read against the records the helper writes here: one
/// line per record, decoded, nothing a caller wrote can start a line.
@Suite("audit report", .serialized, .enabled(if: E2E.enabled))
struct AuditReportTests {
    /// The installation's criu-helper-audit (PREFIX/sbin), else the repository's.
    static let report: String = {
        let prefix = URL(fileURLWithPath: E2E.helper).deletingLastPathComponent().deletingLastPathComponent().path
        let installed = prefix + "/sbin/criu-helper-audit"
        return FileManager.default.isExecutableFile(atPath: installed)
            ? installed : FileManager.default.currentDirectoryPath + "/audit/criu-helper-audit"
    }()

    /// The report's lines for alice since `since`, without the header.
    func reportLines(since: Double, _ extra: String = "") -> (Run, [String]) {
        let run = Shell.root("\(Self.report) --since @\(since) --user \(User.alice.name) \(extra)")
        return (run, run.stdout.split(separator: "\n").dropFirst().map(String.init))
    }

    @Test("one line per USER_CMD record of the caller's: allowed, refused and usage errors decoded, with the reason the caller was given")
    func oneLinePerDecision() throws {
        let since = Date().timeIntervalSince1970 - 1
        let mark = AuditLog.mark()
        defer { Shell.root("pkill -9 -u \(User.alice.uid) -x ch-count") }
        let (dir, _) = try #require(startCountingJob("report"))
        let dump = Shell.user(.alice, "\(E2E.helper) dump --images-dir \(dir) --leave-running")
        #expect(dump.status == 0, "\(dump)")
        let refused = Shell.user(.alice, "\(E2E.helper) dump --pid 1 --images-dir \(dir)")
        #expect(refused.status == 77, "\(refused)")
        let reason = String(refused.message.dropFirst("criu-helper: refused: ".count))
        // A value with a newline and a forged record in it, as a usage error.
        let usage = Shell.user(.alice, "\(E2E.helper) dump --pid \"$(printf '12\\ntype=USER_CMD res=success')\" --images-dir \(dir)")
        #expect(usage.status == 64, "\(usage)")

        // run, dump, the refused dump, the usage error (auditd writes them asynchronously).
        var records: [String] = []
        _ = eventually(10) {
            records = mark.records(containing: "op=").filter { $0.contains(" uid=\(User.alice.uid) ") && $0.contains("exe=\"\(E2E.helper)\"") }
            return records.count >= 4
        }
        #expect(records.count == 4, "\(records)")
        let (run, lines) = reportLines(since: since)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.hasPrefix("TIME "), "\(run.stdout)")
        // Each record is one line, found by its audit event number.
        for record in records {
            let serial = try #require(record.firstMatch(of: /msg=audit\(\d+\.\d+:(\d+)\)/)?.1)
            #expect(lines.filter { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(2).first == serial }.count == 1,
                    "event \(serial) is not one line of \(run.stdout)")
        }
        let ours = lines.filter { $0.contains(dir) || $0.contains(" usage ") || $0.contains("--pid") }
        #expect(ours.contains { $0.contains(" run ") && $0.contains(" allowed ") && $0.contains("command=\(E2E.bin)/ch-count") }, "\(run.stdout)")
        #expect(ours.contains { $0.contains(" dump ") && $0.contains(" \(dir) ") && $0.contains(" allowed ") && $0.contains("generation=g000001") }, "\(run.stdout)")
        #expect(ours.contains { $0.contains(" dump ") && $0.contains(" refused ") && $0.contains(reason) }, "reason '\(reason)' in \(run.stdout)")
        #expect(ours.contains { $0.contains(" failed ") && $0.contains("arguments='dump --pid 12\\x0atype=USER_CMD res=success") }, "\(run.stdout)")
        #expect(!run.stdout.split(separator: "\n").contains { $0.hasPrefix("type=") }, "a caller's value started a line: \(run.stdout)")
        if Self.report.hasPrefix("/usr") {
            // The installation's own tool marks no line of its own helper with its path.
            #expect(!lines.contains { $0.hasSuffix("[\(E2E.helper)]") }, "\(run.stdout)")
        }
    }

    @Test("--decision refused lists only refusals; --until before them lists none")
    func filters() {
        let since = Date().timeIntervalSince1970 - 1
        let dir = User.alice.scratch("report-filter")
        let refused = Shell.user(.alice, "\(E2E.helper) dump --pid 1 --images-dir \(dir)")
        #expect(refused.status == 77, "\(refused)")
        _ = Shell.user(.alice, "\(E2E.helper) list --images-dir \(dir)")
        // Both records, the refusal and the allowed list the filter must
        // leave out (auditd writes them asynchronously).
        #expect(eventually(20) {
            let (_, all) = reportLines(since: since)
            return all.contains { $0.contains(" dump ") && $0.contains(" \(dir) ") && $0.contains(" refused ") }
                && all.contains { $0.contains(" list ") && $0.contains(" \(dir) ") && $0.contains(" allowed ") }
        }, "the refused dump and the list are in the report")
        let (run, lines) = reportLines(since: since, "--decision refused")
        #expect(run.status == 0, "\(run)")
        #expect(!lines.isEmpty && lines.allSatisfy { $0.contains(" refused ") }, "\(run.stdout)")
        let (before, none) = reportLines(since: since, "--until @\(since)")
        #expect(before.status == 0 && none.isEmpty, "\(before)")
    }

    @Test("criu-helper-audit is for root: a user gets one line and exit 77; a bad option exit 64")
    func rootOnly() {
        Shell.root("cp \(Self.report) /tmp/criu-helper-audit-copy && chmod 755 /tmp/criu-helper-audit-copy")
        let user = Shell.user(.alice, "/tmp/criu-helper-audit-copy")
        #expect(user.status == 77, "\(user)")
        #expect(user.stderr == "criu-helper-audit: must run as root: it reads auditd's log (or give --file LOG)\n")
        let bad = Shell.root("\(Self.report) --since yesterday-ish")
        #expect(bad.status == 64, "\(bad)")
        #expect(bad.stderr.split(separator: "\n").count == 1)
    }
}
