import LinuxSystem

/// How a request ended: the exit code, what to print, and what to record.
public struct Outcome: Sendable {
    public var code: ExitCode
    /// The one-line summary on stderr ("criu-helper: ..."); empty for none.
    public var summary: String
    /// Lines for stdout (restore prints the restored root PID last).
    public var output: [String]
    /// `run` and `restore --wait`: the job's status, which becomes the exit code.
    public var jobStatus: ExitStatus?

    public init(code: ExitCode = .done, summary: String = "", output: [String] = [], jobStatus: ExitStatus? = nil) {
        self.code = code
        self.summary = summary
        self.output = output
        self.jobStatus = jobStatus
    }

    /// The process's exit code: the job's own for run/restore --wait.
    public var exitCode: Int32 { jobStatus?.shellCode ?? code.rawValue }
}
