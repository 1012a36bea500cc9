import Foundation
import Testing

/// Defence 1 and 2: the installed capabilities, and refusing to work without them.
@Suite("installation", .serialized, .enabled(if: E2E.enabled))
struct InstallationTests {
    @Test("setcap.sh installs exactly the permitted capabilities, nothing effective or inheritable")
    func fileCapabilities() {
        let run = Shell.root("getcap \(E2E.helper)")
        #expect(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                == "\(E2E.helper) cap_net_admin,cap_sys_chroot,cap_sys_admin,cap_audit_write,cap_checkpoint_restore=p")
        #expect(!run.stdout.contains("cap_sys_ptrace"))
    }

    @Test("criu-helper check passes on the installation, one ok line per item")
    func checkPasses() {
        let run = Shell.user(.alice, "\(E2E.helper) check")
        #expect(run.status == 0, "\(run)")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count >= 9)
        #expect(lines.allSatisfy { $0.hasPrefix("ok  ") }, "\(run.stdout)")
    }

    @Test("check names what is wrong with a copy that lacks its capabilities")
    func checkReportsMissingCapabilities() {
        Shell.root("mkdir -p /opt/chnocap/bin /opt/chnocap/etc && cp \(E2E.helper) /opt/chnocap/bin/ && cp \(E2E.configuration) /opt/chnocap/etc/")
        let run = Shell.user(.alice, "/opt/chnocap/bin/criu-helper check")
        #expect(run.status == 69)
        #expect(run.stdout.contains("FAIL file capabilities of /opt/chnocap/bin/criu-helper: none"))
    }

    @Test("without its file capabilities the helper refuses to start (exit 69) and does nothing")
    func refusesWithoutCapabilities() {
        Shell.root("mkdir -p /opt/chnocap/bin /opt/chnocap/etc && cp \(E2E.helper) /opt/chnocap/bin/ && cp \(E2E.configuration) /opt/chnocap/etc/")
        let dir = User.alice.scratch("nocap")
        let run = Shell.user(.alice, "/opt/chnocap/bin/criu-helper dump --pid $$ --images-dir \(dir)")
        #expect(run.status == 69, "\(run)")
        #expect(run.message.hasPrefix("criu-helper: unavailable: the helper lacks cap_net_admin,cap_sys_chroot,cap_sys_admin,cap_audit_write,cap_checkpoint_restore in its permitted set"))
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test("a caller with no_new_privs makes the kernel ignore file capabilities: refused, exit 69")
    func refusesUnderNoNewPrivs() {
        let dir = User.alice.scratch("nnp")
        let run = Shell.user(.alice, "setpriv --no-new-privs \(E2E.helper) dump --pid $$ --images-dir \(dir)")
        #expect(run.status == 69, "\(run)")
        #expect(run.message.contains("the caller set no_new_privs, so the kernel ignored the file capabilities"))
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test("on a nosuid mount the helper gets no capabilities: refused, exit 69")
    func refusesOnNosuidMount() {
        Shell.root("""
            mkdir -p /mnt/chnosuid && (mountpoint -q /mnt/chnosuid || mount -t tmpfs -o nosuid,mode=0755 tmpfs /mnt/chnosuid) &&
            mkdir -p /mnt/chnosuid/bin /mnt/chnosuid/etc && cp \(E2E.helper) /mnt/chnosuid/bin/ &&
            setcap cap_net_admin,cap_sys_chroot,cap_sys_admin,cap_audit_write,cap_checkpoint_restore+p /mnt/chnosuid/bin/criu-helper &&
            cp \(E2E.configuration) /mnt/chnosuid/etc/
            """)
        let run = Shell.user(.alice, "/mnt/chnosuid/bin/criu-helper dump --pid $$ --images-dir /tmp/chnosuid-x")
        #expect(run.status == 69, "\(run)")
        #expect(run.message.contains("lacks"))
        Shell.root("umount /mnt/chnosuid")
    }

    @Test("setcap.sh refuses to run as a user")
    func setcapRefusesUsers() {
        let repo = FileManager.default.currentDirectoryPath
        Shell.root("cp \(repo)/install/setcap.sh /tmp/setcap-copy.sh && chmod 755 /tmp/setcap-copy.sh")
        let run = Shell.user(.alice, "/tmp/setcap-copy.sh --prefix /tmp/x")
        #expect(run.status == 77)
        #expect(run.message.contains("must run as root"))
    }

    @Test("root is not served: root runs criu directly")
    func refusesRoot() {
        let run = Shell.root("\(E2E.helper) dump --pid 2 --images-dir /tmp/ch-root")
        #expect(run.status == 77)
        #expect(run.message == "criu-helper: refused: the caller is root; root runs criu directly, criu-helper is for unprivileged users")
    }

    @Test("a configuration that is not root's makes the helper unavailable")
    func refusesForeignConfiguration() {
        Shell.root("mkdir -p /opt/chbadconf/bin /opt/chbadconf/etc && cp -a \(E2E.helper) /opt/chbadconf/bin/ && cp \(E2E.configuration) /opt/chbadconf/etc/ && chown \(User.alice.name) /opt/chbadconf/etc/criu-helper.conf")
        let run = Shell.user(.alice, "/opt/chbadconf/bin/criu-helper list --images-dir /tmp")
        #expect(run.status == 69, "\(run)")
        #expect(run.message == "criu-helper: unavailable: configuration /opt/chbadconf/etc/criu-helper.conf: /opt/chbadconf/etc/criu-helper.conf is not owned by root (uid \(User.alice.uid))")
    }
}
