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
/// - only files in directories that no one but root and the caller may
///   change (ImagesDirectory.ancestorProblem, every directory from / down):
///   elsewhere another user could have put another of the caller's files
///   at the name (red team 9), and that is left as it is;
/// - files the job had closed before the checkpoint are not in the images
///   and are left as they are (their later output stays);
/// - `restore --keep-output` leaves every file as it is.
/// A file that criu requires at its checkpointed size (one not opened with
/// O_APPEND) then restores instead of failing with "bad size".
///
/// The cut comes before criu (criu compares sizes), so it must be undone
/// when the restore then fails: what was cut is kept in memory (at most
/// `maximumKept` bytes in all; a file whose cut would pass that is left as
/// it is) and written back by `putBack` on every failure after the cut.
enum OutputFiles {
    static let maximumKept: Int64 = 256 << 20

    struct Cut {
        var path: String
        var from: Int64
        var to: Int64
        /// The bytes from `to` to `from`, for `putBack`.
        var tail: [UInt8]
    }

    struct Report {
        /// Files cut, with their lengths before and after.
        var cut: [Cut] = []
        /// Files left as they were, and why.
        var kept: [(path: String, why: String)] = []
        /// When the previous run last wrote to any of them (nanoseconds since the epoch).
        var lastWrite: Int64? = nil
        var bytesCut: Int64 { cut.reduce(0) { $0 + ($1.from - $1.to) } }
    }

    /// The restore failed after the cut: each file gets back what was cut,
    /// if it still has the length it was cut to (as the caller, never
    /// through a link). Returns the files not put back, with why.
    static func putBack(_ report: Report, caller: Caller) -> [(path: String, why: String)] {
        var failed: [(path: String, why: String)] = []
        for cut in report.cut {
            do {
                let fd: FileDescriptor
                switch open(cut.path, [.writeOnly, .append, .noFollow, .nonBlocking], caller: caller) {
                case .success(let opened): fd = opened
                case .failure(let why): failed.append((cut.path, why.text)); continue
                }
                let st = try fd.status()
                guard st.isRegularFile, st.owner == caller.uid, st.size == cut.to else {
                    failed.append((cut.path, "it changed since it was cut (now \(st.size) bytes)"))
                    continue
                }
                try fd.write(cut.tail)
            } catch {
                failed.append((cut.path, "\(error)"))
            }
        }
        return failed
    }

    static func bringBack(_ files: [FileTable.WrittenFile], caller: Caller, apply: Bool) -> Report {
        var report = Report()
        for file in files {
            let fd: FileDescriptor
            switch open(file.path, [.readWrite, .noFollow, .nonBlocking], caller: caller) {
            case .success(let opened): fd = opened
            case .failure(let why): report.kept.append((file.path, why.text)); continue
            }
            guard let st = try? fd.status(), st.isRegularFile else { report.kept.append((file.path, "not a regular file")); continue }
            guard st.owner == caller.uid else { report.kept.append((file.path, "belongs to uid \(st.owner), not to the caller")); continue }
            report.lastWrite = max(report.lastWrite ?? st.modifiedAtNanoseconds, st.modifiedAtNanoseconds)
            let target = Int64(clamping: file.size)
            guard st.size > target else {
                if st.size < target { report.kept.append((file.path, "shorter (\(st.size) bytes) than at the checkpoint (\(target))")) }
                continue
            }
            guard apply else { report.kept.append((file.path, "--keep-output")); continue }
            guard report.bytesCut + (st.size - target) <= maximumKept else {
                report.kept.append((file.path, "more than \(maximumKept >> 20) MiB would be cut in all, more than a restore keeps to put back if it fails"))
                continue
            }
            do {
                let tail = try fd.read(at: target, count: Int(st.size - target))
                guard tail.count == Int(st.size - target) else { report.kept.append((file.path, "changed while it was read")); continue }
                try fd.truncate(to: target)
                report.cut.append(Cut(path: file.path, from: st.size, to: target, tail: tail))
            } catch {
                report.kept.append((file.path, "\(error.errno)"))
            }
        }
        return report
    }

    struct Refusal: Error { var text: String }

    /// Opens `path` walking from / one directory at a time, never through a
    /// link, each directory one that only root or the caller may change;
    /// the file itself is opened in the last of them. So the file opened is
    /// the one at that name, and no one else can have put it there.
    static func open(_ path: String, _ flags: FileDescriptor.OpenFlags, caller: Caller) -> Result<FileDescriptor, Refusal> {
        guard path.hasPrefix("/") else { return .failure(Refusal(text: "not an absolute path")) }
        var components = path.split(separator: "/").map(String.init)
        guard let name = components.popLast() else { return .failure(Refusal(text: "not a file")) }
        var directory: FileDescriptor
        do { directory = try FileDescriptor.open("/", [.directory, .pathOnly]) } catch { return .failure(Refusal(text: "\(error.errno)")) }
        var walked = "/"
        for component in components + [""] {
            guard let st = try? directory.status() else { return .failure(Refusal(text: "cannot read \(walked)")) }
            if let why = ImagesDirectory.ancestorProblem(st, callerUID: caller.uid) {
                return .failure(Refusal(text: "in \(RequestParser.shown(walked)), \(why): another user could have put another file at its name"))
            }
            if component.isEmpty { break }
            do { directory = try directory.open(component, [.directory, .pathOnly, .noFollow], resolve: [.noSymlinks]) }
            catch { return .failure(Refusal(text: "\(error.errno)")) }
            walked += (walked == "/" ? "" : "/") + component
        }
        do { return .success(try directory.open(name, flags, resolve: [.noSymlinks, .beneath])) }
        catch { return .failure(Refusal(text: "\(error.errno)")) }
    }

    /// "0.7 s" under ten seconds, whole seconds above.
    static func duration(nanoseconds: Int64) -> String {
        let ns = max(nanoseconds, 0)
        if ns < 10_000_000_000 {
            let tenths = (ns + 50_000_000) / 100_000_000
            return "\(tenths / 10).\(tenths % 10) s"
        }
        return duration(ns / 1_000_000_000)
    }

    /// "3 min 12 s"
    static func duration(_ seconds: Int64) -> String {
        let s = max(seconds, 0)
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min \(s % 60) s" }
        return "\(s / 3600) h \(s % 3600 / 60) min"
    }
}
