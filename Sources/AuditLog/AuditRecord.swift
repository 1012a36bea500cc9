/// One audit record: what was asked, about what, and how it ended. Values
/// that come from the caller are marked so that they are encoded
/// (audit_encode_nv_string): a value cannot forge `res=success` or a second field.
public struct AuditRecord: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        /// Text the helper wrote itself (numbers, fixed words).
        case trusted(String)
        /// Anything that came from the caller or the file system.
        case untrusted(String)
    }

    public var operation: String
    public var fields: [(key: String, value: Value)]
    public var success: Bool

    public init(operation: String, success: Bool, fields: [(key: String, value: Value)] = []) {
        self.operation = operation
        self.success = success
        self.fields = fields
    }

    public static func == (a: AuditRecord, b: AuditRecord) -> Bool {
        a.operation == b.operation && a.success == b.success
            && a.fields.map(\.key) == b.fields.map(\.key) && a.fields.map(\.value) == b.fields.map(\.value)
    }

    /// The longest caller-supplied value kept in a record, before encoding.
    public static let maximumValueLength = 1024

    /// The record's text with every untrusted value passed through `encode`.
    public func message(encode: (String, String) -> String) -> String {
        var parts = ["op=\(operation)"]
        for (key, value) in fields {
            switch value {
            case .trusted(let text):
                parts.append("\(key)=\(text)")
            case .untrusted(let text):
                var bounded = String(text.utf8.prefix(Self.maximumValueLength)) ?? ""
                if bounded.isEmpty && !text.isEmpty { bounded = "?" }
                parts.append(encode(key, bounded))
            }
        }
        return parts.joined(separator: " ")
    }
}
