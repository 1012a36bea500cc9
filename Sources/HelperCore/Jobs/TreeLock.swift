import LinuxSystem
import ProcessTree

/// Serialises requests on one process tree, whatever images directory they
/// use: flock(2) on /proc/ROOT/fd of the tree's root. That directory is
/// mode 0500 and the task's own: only the caller (and root) can open it, so
/// no other user can take, hold or fake this lock, and the kernel drops it
/// when the holder dies. Never waited for: a second request on the same
/// tree is refused at once.
public struct TreeLock: ~Copyable {
    let fd: FileDescriptor

    static func acquire(root: Int32, in proc: ProcFilesystem) throws(HelperFailure) -> TreeLock {
        let fd: FileDescriptor
        do { fd = try proc.root.open("\(root)/fd", [.directory, .noFollow], resolve: [.beneath, .noSymlinks]) } catch {
            throw .refused("cannot lock the tree of \(root): \(error.errno)")
        }
        let taken: Bool
        do { taken = try fd.tryLockExclusive() } catch { throw .internalError("flock /proc/\(root)/fd: \(error.errno)") }
        guard taken else { throw .refused("another criu-helper request is working on the tree of \(root)") }
        return TreeLock(fd: fd)
    }
}
