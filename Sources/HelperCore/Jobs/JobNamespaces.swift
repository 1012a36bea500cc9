import LinuxSystem
import ProcessTree

/// The PID, mount and network namespaces of a job that runs outside the helper's
/// own (a job of `run` or `restore`), opened, checked, and then entered by
/// criu through these very descriptors — so what was checked is what criu
/// runs in:
/// - both are owned by the helper's user namespace (the initial one): only
///   root or criu-helper with CAP_SYS_ADMIN could have made or changed them,
///   never the caller (a job, or a process the caller ptraces into
///   unshare(CLONE_NEWUSER|CLONE_NEWNS), makes namespaces owned by a user
///   namespace of its own);
/// - the PID namespace is one level below the helper's;
/// - the mount namespace is a copy of the helper's, mount for mount, but for
///   the job's own /proc (MountTable): every path criu or the kernel
///   resolves there — criu's ELF interpreter, libraries, plugins — leads to
///   the same file as in the helper's namespace. A container's or a mount
///   namespace with bind mounts of the caller's choosing is refused;
/// - the network namespace is owned by the initial user namespace too: the
///   helper's own, or the one it made for `run --private-network`, which
///   the caller can neither enter nor change (the reaper, not dumpable,
///   cannot be read to compare; the tree check then holds every task and
///   thread to the root's).
final class JobNamespaces {
    let mount: NamespaceFile
    let pid: NamespaceFile
    let network: NamespaceFile

    init(mount: consuming NamespaceFile, pid: consuming NamespaceFile, network: consuming NamespaceFile) {
        self.mount = mount
        self.pid = pid
        self.network = network
    }

    static func verify(root: Int32, pin: any ProcessPin, proc: ProcFilesystem,
                       helperUserNamespace: NamespaceID) throws(HelperFailure) -> JobNamespaces {
        guard let pid = try? proc.openNamespace(.pid, of: "\(root)"), let mount = try? proc.openNamespace(.mount, of: "\(root)"),
              let network = try? proc.openNamespace(.network, of: "\(root)") else {
            throw .refused("cannot open the namespaces of task \(root): \(Errno.current)")
        }
        for (name, owner) in [("PID", pid.owner), ("mount", mount.owner), ("network", network.owner)] where owner != helperUserNamespace {
            throw .refused("task \(root) is in a \(name) namespace owned by another user namespace (\(owner), not \(helperUserNamespace)): one the caller could have made")
        }
        let jobMounts: MountTable
        let helperMounts: MountTable
        do {
            jobMounts = try MountTable.parse(try proc.read("\(root)/mountinfo"))
            helperMounts = try MountTable.parse(try proc.read("\(Kernel.processID)/mountinfo"))
            // The table read is the namespace held: the task is still there and still in it.
            guard try proc.namespace(.mount, of: "\(root)") == mount.identity, pin.isAlive else {
                throw HelperFailure.refused("task \(root) exited while its namespaces were being checked; try again")
            }
        } catch let failure as HelperFailure {
            throw failure
        } catch {
            throw .refused("cannot read the mounts of task \(root): \(error)")
        }
        if let difference = jobMounts.difference(mirroring: helperMounts) {
            throw .refused("the mount namespace of task \(root) is not one criu-helper made: \(difference)")
        }
        return JobNamespaces(mount: mount, pid: pid, network: network)
    }
}
