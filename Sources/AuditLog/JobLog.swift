import Glibc
import LinuxSystem

/// The log a job's author reads: one line per request, appended to
/// `criu-helper.log` in the images directory, written with the caller's own
/// rights (the file is the caller's). Never followed through a symbolic link.
public struct JobLog {
    public static let fileName = "criu-helper.log"

    /// Appends `line`, prefixed with a UTC time stamp. Failures are returned,
    /// not thrown: the kernel audit record is the one that must not be lost.
    @discardableResult
    public static func append(_ line: String, in directory: borrowing FileDescriptor) -> SystemError? {
        let stamp = Kernel.utcTimestamp(Kernel.wallClock.seconds)
        let clean = line.map { $0 == "\n" || $0 == "\r" ? " " : $0 }
        do {
            // O_NONBLOCK: a FIFO the caller put in the log's place (after
            // the directory was checked) fails the open or the type check
            // below instead of holding the request until someone reads it.
            let fd = try directory.open(fileName, [.writeOnly, .append, .create, .noFollow, .nonBlocking], mode: 0o600,
                                        resolve: [.noSymlinks, .beneath])
            let st = try fd.status()
            guard st.isRegularFile, st.linkCount == 1 else {
                return SystemError("append", fileName, errno: Errno(EINVAL))
            }
            try fd.write("\(stamp) \(String(clean))\n")
            return nil
        } catch {
            return error
        }
    }
}
