// criu-helper: checkpoint and restore of the caller's own process tree with
// CRIU. Installed with file capabilities, permitted only (install/setcap.sh):
// cap_checkpoint_restore (criu's one capability), cap_sys_admin (the private
// tmpfs; the job's PID and mount namespaces), cap_sys_chroot (with
// cap_sys_admin, entering a job's mount namespace), cap_audit_write (the
// helper's own audit records), cap_net_admin (the loopback of a job's
// private network). Every place one is raised is in
// Privilege/PrivilegedOperations.swift.
//
// The privileged path, top to bottom. Before this file runs, the C
// constructor in CStartup/startup.c has already saved the caller's umask,
// signal state and limits (for the job `run` starts), made descriptors 0-2
// valid, closed every other inherited descriptor, emptied the environment,
// made the process non-dumpable, set the soft RLIMIT_CORE to 0 and raised the
// soft limits on file size, descriptors and stack to their hard limits.

import HelperCore
import LinuxSystem
import Privilege

// 1. Hygiene that had to happen before Swift ran must have worked.
if StartupState.failed {
    Startup.fail(.internalError("start-up hygiene failed (descriptors 0-2, dumpability)"))
}
// The constructor raised the soft limits to the hard ones; a hard limit
// too low to finish a request is refused before anything is done.
if StartupState.limitsTooLow {
    Startup.fail(.unavailable("resource limits too low: criu-helper needs hard limits of at least 64 MiB file size, 256 descriptors and 4 MiB stack"))
}
let argv = StartupState.arguments()
guard let argv0 = argv.first, !argv0.isEmpty else {
    Startup.fail(.usage("called without argv[0]"), operation: "usage")
}

// 2. The caller's signal dispositions and mask are not ours to keep.
do { try Kernel.resetSignals() } catch { Startup.fail(.internalError("\(error)")) }

// 3. Requests that need no privilege.
if argv.count == 2 && (argv[1] == "--help" || argv[1] == "-h") {
    Kernel.writeOutput(Usage.text + "\n")
    Kernel.exit(ExitCode.done.rawValue)
}
if argv.count == 2 && argv[1] == "--version" {
    Kernel.writeOutput(Startup.version + "\n")
    Kernel.exit(ExitCode.done.rawValue)
}
if argv.count >= 2 && argv[1] == "check" {
    // `check` reports on a broken installation instead of refusing to start.
    Kernel.exit(InstallationCheck.run(arguments: argv).rawValue)
}

// 4. Exactly the installed capabilities, all of them merely permitted. If
//    the kernel did not grant them (no setcap, a nosuid mount, or the caller
//    set no_new_privs) the helper cannot work: refuse to start.
let privileges: Privileges
do {
    privileges = try Privileges.takeControl()
} catch {
    Startup.fail(.unavailable("\(error)"))
}

// 5. no_new_privs for the helper and everything it starts: criu's ambient
//    capabilities survive it, nothing can gain more through a set-user-ID
//    or file-capability exec.
do { try Kernel.setNoNewPrivileges() } catch { Startup.fail(.internalError("\(error)")) }

// 6. Who is asking; root is not served.
let caller: Caller
do { caller = try Caller.identify() } catch { Startup.fail(error) }

// 7. Configuration: root-owned, found next to the binary, never from the caller.
let executable = Startup.executablePath()
let config: Configuration
do { config = try Configuration.load(from: Configuration.path(forExecutable: executable)) } catch { Startup.fail(error) }

// 8. Kernel audit: every request from here on gets a record.
let audit: AuditConnection?
do { audit = try Startup.openAudit(policy: config.audit) } catch { Startup.fail(error) }

let session = Session(caller: caller, config: config, executable: executable, privileges: privileges,
                      audit: audit, pidMax: Startup.pidMax(),
                      callerEnvironment: StartupState.callerEnvironment(), callerState: StartupState.callerState())

// 9. The request itself: parsed strictly, authorised, audited, carried out.
Kernel.exit(session.handle(argv))
