import Credentials
import LinuxSystem
import ProcessTree

/// criu-helper-restore-check: the action script criu-helper hands criu for
/// every restore (`criu restore --action-script PATH`). criu runs it, as
/// the caller with criu's own cap_checkpoint_restore, at each stage of the
/// restore and waits for it. Two stages matter:
///
/// - "post-restore": every restored task waits in criu's restorer for its
///   credentials. No code of the job has run and none can until criu lets
///   the tasks go; a SIGCONT does not move them. A non-zero exit makes criu
///   kill everything it restored. Checked: the executable each process
///   shows and every descriptor it holds (RestoredTree.checkHeld).
/// - "pre-resume": the credentials are in place and criu has every task
///   stopped under ptrace. The same checks and each thread's credentials;
///   on a problem this program kills the tasks itself (criu does not stop
///   for this stage's exit status).
///
/// The helper checks all of this again once criu has left the tasks
/// stopped, but the caller can stop the helper (it runs as the caller) and
/// continue the tasks before it looks. This check cannot be skipped that
/// way at "post-restore": stopping it leaves the tasks held, killing it
/// makes criu kill them. criu ignores the status of "pre-resume": killed
/// there, it leaves the credential check to the helper alone (README).
/// It makes itself non-dumpable first: with criu's capability, and after,
/// the caller cannot ptrace it. Its one input is /proc; its one output the
/// reason, in the private copy criu restores from (CRTOOLS_IMAGE_DIR), where
/// the helper reads it to tell the caller.
@main
struct RestoreCheck {
    static let reasonFile = "criu-helper-restore-check.txt"

    static func main() {
        do { try Kernel.setNotDumpable() } catch { Kernel.exit(1) }
        guard let action = Kernel.environmentValue("CRTOOLS_SCRIPT_ACTION") else { Kernel.exit(1) }
        guard action == "post-restore" || action == "pre-resume" else { Kernel.exit(0) }
        guard let rootText = Kernel.environmentValue("CRTOOLS_INIT_PID"), let root = Int32(rootText), root > 1 else {
            refuse("criu named no restored root task", images: Kernel.environmentValue("CRTOOLS_IMAGE_DIR"))
        }
        let images = Kernel.environmentValue("CRTOOLS_IMAGE_DIR")
        let proc: ProcFilesystem
        do { proc = try ProcFilesystem.system() } catch { refuse("cannot open /proc: \(error)", images: images) }
        let me = Kernel.identity()
        // The credential rule without no_new_privs (the helper applies the
        // configured one afterwards): criu runs as the caller.
        let rule = action == "pre-resume"
            ? CredentialRule(uid: me.realUID, groups: me.groups, requireNoNewPrivileges: false) : nil
        let (problem, pins) = RestoredTree.checkHeld(root: root, in: proc, uid: me.realUID, credentials: rule)
        guard let problem else { Kernel.exit(0) }
        if action == "pre-resume" { for pin in pins { try? pin.send(.kill) } }
        refuse(problem, images: images)
    }

    static func refuse(_ reason: String, images: String?) -> Never {
        if let images, images.hasPrefix("/proc/"),
           let fd = try? FileDescriptor.open(images + "/" + reasonFile, [.writeOnly, .create, .truncate, .noFollow], mode: 0o600) {
            try? fd.write(Array(reason.utf8.prefix(1000)))
        }
        Kernel.exit(1)
    }
}
