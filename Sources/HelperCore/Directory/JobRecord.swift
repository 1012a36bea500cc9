import LinuxSystem

/// What `run` and `restore` write at the top of the images directory, so
/// that later requests can take `--images-dir` alone: the job's reaper (PID
/// and start time, which together identify it) and the job's root PID inside
/// its namespace. `key=value` lines, written to a temporary name and renamed.
/// The LSF method (integrations/lsf/echkpnt.criu) reads `reaper-pid` and
/// `reaper-start-time` to match LSF's process group to the job: keep them.
public struct JobRecord: Equatable, Sendable {
    public var reaperPID: Int32
    public var reaperStartTime: UInt64
    public var rootInnerPID: Int32
    public var command: String

    public init(reaperPID: Int32, reaperStartTime: UInt64, rootInnerPID: Int32, command: String) {
        self.reaperPID = reaperPID
        self.reaperStartTime = reaperStartTime
        self.rootInnerPID = rootInnerPID
        self.command = command
    }

    public var text: String {
        let oneLine = String(command.map { $0 == "\n" ? " " : $0 }.prefix(1024))
        return "reaper-pid=\(reaperPID)\nreaper-start-time=\(reaperStartTime)\nroot-pid-inside=\(rootInnerPID)\ncommand=\(oneLine)\n"
    }

    public static func parse(_ text: String) -> JobRecord? {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { return nil }
            values[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard let reaper = values["reaper-pid"].flatMap({ Int32($0) }), reaper > 1,
              let start = values["reaper-start-time"].flatMap({ UInt64($0) }),
              let root = values["root-pid-inside"].flatMap({ Int32($0) }), root > 1 else { return nil }
        return JobRecord(reaperPID: reaper, reaperStartTime: start, rootInnerPID: root, command: values["command"] ?? "")
    }

    static func read(from dir: ImagesDirectory) throws(HelperFailure) -> JobRecord? {
        do {
            // O_NONBLOCK: a FIFO swapped in after the directory was checked
            // is refused below, not waited on.
            let fd = try dir.fd.open(ImagesDirectory.jobRecordName, [.noFollow, .nonBlocking], resolve: [.noSymlinks, .beneath])
            guard try fd.status().isRegularFile else { throw HelperFailure.refused("\(dir.shown("job")) is not a regular file") }
            guard let record = parse(String(decoding: try fd.readAll(limit: 8192), as: UTF8.self)) else {
                throw HelperFailure.refused("\(dir.shown("job")) is not a job record")
            }
            return record
        } catch let failure as HelperFailure {
            throw failure
        } catch let error as SystemError where error.errno == .noSuchFileOrDirectory {
            return nil
        } catch {
            throw .internalError("\(dir.shown("job")): \(error)")
        }
    }

    func write(to dir: ImagesDirectory) throws(HelperFailure) {
        do {
            try? dir.fd.removeFile("job.new")
            let fd = try dir.fd.open("job.new", [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600, resolve: [.noSymlinks, .beneath])
            try fd.write(text)
            fd.sync()
            try dir.fd.rename("job.new", to: ImagesDirectory.jobRecordName)
        } catch {
            try? dir.fd.removeFile("job.new")
            throw .internalError("cannot write \(dir.shown("job")): \(error)")
        }
    }
}
