import CriuImages
import LinuxSystem

/// Exactly-once output on resume. A job resumed from a checkpoint older
/// than the run that just ended would write again what that run wrote
/// after the checkpoint. Before criu restores the job, every regular file
/// the job held open for writing at the checkpoint is brought back to the
/// length it had then (the images say which files, and how long):
/// - as the caller, with no capability effective (what the caller could do
///   with `truncate` themselves), never through a symbolic link;
/// - only files the caller owns, only ever shorter, each one logged;
/// - files the job had closed before the checkpoint are not in the images
///   and are left as they are (their later output stays);
/// - `restore --keep-output` leaves every file as it is.
/// A file that criu requires at its checkpointed size (one not opened with
/// O_APPEND) then restores instead of failing with "bad size".
enum OutputFiles {
    struct Report {
        /// Files cut, with their lengths before and after.
        var cut: [(path: String, from: Int64, to: Int64)] = []
        /// Files left as they were, and why.
        var kept: [(path: String, why: String)] = []
        /// When the previous run last wrote to any of them (seconds since the epoch).
        var lastWrite: Int64? = nil
        var bytesCut: Int64 { cut.reduce(0) { $0 + ($1.from - $1.to) } }
    }

    static func bringBack(_ files: [FileTable.WrittenFile], caller: Caller, apply: Bool) -> Report {
        var report = Report()
        for file in files {
            let fd: FileDescriptor
            do {
                fd = try FileDescriptor.open(file.path, [.writeOnly, .noFollow, .nonBlocking], resolve: [.noSymlinks, .noMagicLinks])
            } catch {
                report.kept.append((file.path, "\(error.errno)"))
                continue
            }
            guard let st = try? fd.status(), st.isRegularFile else { report.kept.append((file.path, "not a regular file")); continue }
            guard st.owner == caller.uid else { report.kept.append((file.path, "belongs to uid \(st.owner), not to the caller")); continue }
            report.lastWrite = max(report.lastWrite ?? st.modificationTime, st.modificationTime)
            let target = Int64(clamping: file.size)
            guard st.size > target else {
                if st.size < target { report.kept.append((file.path, "shorter (\(st.size) bytes) than at the checkpoint (\(target))")) }
                continue
            }
            guard apply else { report.kept.append((file.path, "--keep-output")); continue }
            do {
                try fd.truncate(to: target)
                report.cut.append((file.path, st.size, target))
            } catch {
                report.kept.append((file.path, "\(error.errno)"))
            }
        }
        return report
    }

    /// "3 min 12 s"
    static func duration(_ seconds: Int64) -> String {
        let s = max(seconds, 0)
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min \(s % 60) s" }
        return "\(s / 3600) h \(s % 3600 / 60) min"
    }
}
