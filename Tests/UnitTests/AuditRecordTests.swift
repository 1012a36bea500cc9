import AuditLog
import Testing

@Suite("audit records")
struct AuditRecordTests {
    @Test("caller values go through the encoder, helper values do not")
    func encoding() {
        let record = AuditRecord(operation: "dump", success: false,
                                 fields: [("pid", .trusted("42")), ("images-dir", .untrusted("/x res=success"))])
        let text = record.message { key, value in "\(key)=<\(value)>" }
        #expect(text == "op=dump pid=42 images-dir=</x res=success>")
    }

    @Test("long values are bounded before encoding")
    func bounded() {
        let record = AuditRecord(operation: "dump", success: true, fields: [("images-dir", .untrusted(String(repeating: "a", count: 5000)))])
        let text = record.message { key, value in "\(key)=\(value.count)" }
        #expect(text == "op=dump images-dir=\(AuditRecord.maximumValueLength)")
        // Cut at a character boundary, never inside one.
        let wide = AuditRecord(operation: "dump", success: true, fields: [("images-dir", .untrusted(String(repeating: "é", count: 300)))])
        let cut = wide.message { _, value in value }
        #expect(cut.hasSuffix("...") && cut.utf8.count <= "op=dump ".utf8.count + AuditRecord.maximumValueLength && !cut.contains("\u{FFFD}"))
    }
}
