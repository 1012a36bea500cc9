import AuditLog

extension Session {
    public func run(_ request: RunRequest, fields: inout [(key: String, value: AuditRecord.Value)]) throws(HelperFailure) -> Outcome {
        throw .internalError("run is not built yet")
    }
}
