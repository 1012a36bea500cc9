import LinuxSystem

/// What `criu-helper run` writes at the top of the images directory so that
/// later verbs can take `--images-dir` alone: the job's root PID and how it
/// was started. `key=value` lines, written to a temporary name and renamed.
public struct JobRecord: Equatable, Sendable {
    public var rootPID: Int32
    public var startTime: UInt64
    /// The helper's PID namespace mode: "pidns" when the job runs in its own
    /// PID namespace, "shared" otherwise.
    public var namespaceMode: String
    public var command: String

    public init(rootPID: Int32, startTime: UInt64, namespaceMode: String, command: String) {
        self.rootPID = rootPID
        self.startTime = startTime
        self.namespaceMode = namespaceMode
        self.command = command
    }

    public var text: String {
        let oneLine = String(command.map { $0 == "\n" ? " " : $0 })
        return "root-pid=\(rootPID)\nstart-time=\(startTime)\nnamespace=\(namespaceMode)\ncommand=\(oneLine)\n"
    }

    public static func parse(_ text: String) -> JobRecord? {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { return nil }
            values[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard let pid = values["root-pid"].flatMap({ Int32($0) }), pid > 1,
              let start = values["start-time"].flatMap({ UInt64($0) }) else { return nil }
        return JobRecord(rootPID: pid, startTime: start, namespaceMode: values["namespace"] ?? "shared", command: values["command"] ?? "")
    }

    static func read(from dir: ImagesDirectory) throws(HelperFailure) -> JobRecord? {
        do {
            let fd = try dir.fd.open(ImagesDirectory.jobRecordName, [.noFollow], resolve: [.noSymlinks, .beneath])
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
            throw .internalError("cannot write \(dir.shown("job")): \(error)")
        }
    }
}
