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

    /// The longest caller-supplied value kept in a record, before encoding
    /// (bytes; cut at a character boundary and marked with "..."). With at
    /// most four such values (images directory, command, arguments, reason)
    /// a record stays under 2 KiB: a flood of requests costs the audit log
    /// at most that much per request (README, "Audit").
    public static let maximumValueLength = 200

    /// The record's text with every untrusted value passed through `encode`.
    public func message(encode: (String, String) -> String) -> String {
        var parts = ["op=\(operation)"]
        for (key, value) in fields {
            switch value {
            case .trusted(let text):
                parts.append("\(key)=\(text)")
            case .untrusted(let text):
                parts.append(encode(key, Self.bounded(text)))
            }
        }
        return parts.joined(separator: " ")
    }

    /// `text` cut to at most `maximumValueLength` bytes at a character boundary.
    static func bounded(_ text: String) -> String {
        let bytes = Array(text.utf8)
        guard bytes.count > maximumValueLength else { return text }
        var cut = maximumValueLength - 3
        while cut > 0 && (bytes[cut] & 0xC0) == 0x80 { cut -= 1 }
        return String(decoding: bytes[0..<cut], as: UTF8.self) + "..."
    }
}
