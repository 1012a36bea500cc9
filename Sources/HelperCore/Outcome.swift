import AuditLog

/// How a request ended: the exit code, what to print, and what to record.
public struct Outcome: Sendable {
    public var code: ExitCode
    /// The one-line summary on stderr ("criu-helper: ..."); empty for none.
    public var summary: String
    /// Lines for stdout (restore prints the restored root PID last).
    public var output: [String]
    /// Fields for the final audit record.
    public var auditFields: [(key: String, value: AuditRecord.Value)]

    public init(code: ExitCode = .done, summary: String = "", output: [String] = [],
                auditFields: [(key: String, value: AuditRecord.Value)] = []) {
        self.code = code
        self.summary = summary
        self.output = output
        self.auditFields = auditFields
    }
}
