import Foundation
import Testing

/// Defence 6 and the bad inputs of the threat model: nothing but the
/// helper's own options is accepted, in one spelling; PIDs are strict.
@Suite("command line", .serialized, .enabled(if: E2E.enabled))
struct ArgumentTests {
    @Test("malformed PIDs are usage errors (64), audited, nothing done",
          arguments: ["12a", "+1", " 1", "0x1", "-1", "0", "99999999999", "", "1 2", "01", "4194305", "٣"])
    func malformedPID(_ pid: String) {
        let dir = User.alice.scratch("badpid")
        let audit = AuditLog.mark()
        let run = Shell.user(.alice, "\(E2E.helper) dump --pid '\(pid)' --images-dir \(dir)")
        #expect(run.status == 64, "\(run)")
        #expect(run.message.hasPrefix("criu-helper: usage error: --pid must be a process id between 1 and "))
        #expect(!audit.records(containing: "dump --pid").isEmpty || !audit.records(containing: dir).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test("criu options and other spellings are refused, in any form",
          arguments: ["--config=/tmp/x", "--act", "--leave-runnin", "-t 1", "-D /tmp", "--shell-job", "--tree=1",
                      "--images-dir=/tmp/y", "-vvvv", "--", "--action-script=/tmp/s", "--pid=2", "restore"])
    func criuOptionsRefused(_ extra: String) {
        let dir = User.alice.scratch("opts")
        let run = Shell.user(.alice, "\(E2E.helper) dump --pid 2 --images-dir \(dir) \(extra)")
        #expect(run.status == 64, "\(run)")
        #expect(run.message.hasPrefix("criu-helper: usage error: "))
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test("unknown commands are refused", arguments: ["pre-dump", "exec", "lazy-pages", "page-server", "DUMP", "swrk"])
    func unknownCommand(_ command: String) {
        let run = Shell.user(.alice, "\(E2E.helper) \(command) --images-dir /tmp/x")
        #expect(run.status == 64)
        #expect(run.message == "criu-helper: usage error: unknown command '\(command)' (see criu-helper --help)")
    }

    @Test("--help documents every exit code")
    func helpListsExitCodes() {
        let run = Shell.user(.alice, "\(E2E.helper) --help")
        #expect(run.status == 0)
        for code in [" 0  done", " 1  criu itself failed", "64  usage error", "69  a dependency is unavailable", "70  internal error", "77  refused"] {
            #expect(run.stdout.contains(code), "\(code)")
        }
    }
}
