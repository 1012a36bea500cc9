/// A protobuf message decoded strictly from the wire format, without a
/// schema: a list of fields. Accessors then apply the schema the caller
/// knows, and refuse what protobuf-c would read differently from us:
/// a singular field that occurs twice (protobuf-c keeps the last scalar and
/// merges messages), a wire type that does not match, a value out of range.
///
/// Written here, no generated code: a few hundred lines that can be read
/// in one sitting are easier to trust than a code generator's output.
public struct ProtobufMessage: Sendable {
    public enum Value: Sendable, Equatable {
        case varint(UInt64)
        case fixed64(UInt64)
        case bytes(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }

    public struct Field: Sendable, Equatable {
        public var number: UInt32
        public var value: Value
        public init(number: UInt32, value: Value) {
            self.number = number
            self.value = value
        }
    }

    public let fields: [Field]

    /// Messages nested deeper than this are refused (a bound on recursion).
    public static let maximumDepth = 32

    public init(fields: [Field]) { self.fields = fields }

    /// Decodes `bytes` completely: every byte must belong to a field.
    public init(decoding bytes: ArraySlice<UInt8>) throws(ImageError) {
        self.fields = try Self.located(bytes).map(\.field)
    }

    /// The fields of `bytes` in order, each with where its value lies: the
    /// indices of the array `bytes` is a slice of (a varint's own bytes, a
    /// length-delimited field's contents). The one walk of the wire format,
    /// shared by the decoder and by the one in-place change criu-helper
    /// makes to a copied image (ExpiredTimers).
    public static func located(_ bytes: ArraySlice<UInt8>) throws(ImageError) -> [(field: Field, value: Range<Int>)] {
        var fields: [(field: Field, value: Range<Int>)] = []
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let key = try Self.varint(bytes, &i)
            guard key >> 3 >= 1, key >> 3 <= 0x1FFF_FFFF else { throw .malformed(file: "", "field number out of range") }
            let number = UInt32(key >> 3)
            let start = i
            switch key & 7 {
            case 0:
                let v = try Self.varint(bytes, &i)
                fields.append((Field(number: number, value: .varint(v)), start..<i))
            case 1:
                guard bytes.endIndex - i >= 8 else { throw .malformed(file: "", "truncated fixed64") }
                var v: UInt64 = 0
                for k in 0..<8 { v |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
                i += 8
                fields.append((Field(number: number, value: .fixed64(v)), start..<i))
            case 2:
                let length = try Self.varint(bytes, &i)
                guard length <= UInt64(bytes.endIndex - i) else { throw .malformed(file: "", "length beyond the end") }
                let end = i + Int(length)
                fields.append((Field(number: number, value: .bytes(bytes[i..<end])), i..<end))
                i = end
            case 5:
                guard bytes.endIndex - i >= 4 else { throw .malformed(file: "", "truncated fixed32") }
                var v: UInt32 = 0
                for k in 0..<4 { v |= UInt32(bytes[i + k]) << (8 * UInt32(k)) }
                i += 4
                fields.append((Field(number: number, value: .fixed32(v)), start..<i))
            default:
                // 3 and 4 are groups (deprecated, never used by criu); 6 and 7 do not exist.
                throw .malformed(file: "", "wire type \(key & 7)")
            }
        }
        return fields
    }

    /// A base-128 varint of at most 10 bytes whose value fits in 64 bits.
    static func varint(_ bytes: ArraySlice<UInt8>, _ i: inout Int) throws(ImageError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard i < bytes.endIndex else { throw .malformed(file: "", "truncated varint") }
            let byte = bytes[i]
            i += 1
            if shift == 63 && byte > 1 { throw .malformed(file: "", "varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            guard shift <= 63 else { throw .malformed(file: "", "varint longer than 10 bytes") }
        }
    }

    // MARK: - Schema accessors

    public func occurrences(_ number: UInt32) -> [Field] { fields.filter { $0.number == number } }

    public func has(_ number: UInt32) -> Bool { fields.contains { $0.number == number } }

    /// Refuses any field number not in `known`: in security-relevant messages
    /// an unknown field is something this reader cannot vouch for.
    public func requireOnly(_ known: Set<UInt32>, in name: String) throws(ImageError) {
        if let unknown = fields.first(where: { !known.contains($0.number) }) {
            throw .forbidden(file: "", "\(name) has unknown field \(unknown.number)")
        }
    }

    private func single(_ number: UInt32, _ name: String) throws(ImageError) -> Value? {
        let found = occurrences(number)
        guard found.count <= 1 else { throw .forbidden(file: "", "\(name) occurs \(found.count) times") }
        return found.first?.value
    }

    /// An optional singular varint field.
    public func uint64(_ number: UInt32, _ name: String) throws(ImageError) -> UInt64? {
        guard let value = try single(number, name) else { return nil }
        guard case .varint(let v) = value else { throw .malformed(file: "", "\(name) has the wrong wire type") }
        return v
    }

    /// An optional singular uint32 (or enum, or bool) field. A varint above
    /// 2^32-1 is refused: protobuf-c would keep only its low 32 bits.
    public func uint32(_ number: UInt32, _ name: String) throws(ImageError) -> UInt32? {
        guard let v = try uint64(number, name) else { return nil }
        guard v <= UInt64(UInt32.max) else { throw .forbidden(file: "", "\(name) \(v) does not fit in 32 bits") }
        return UInt32(v)
    }

    public func requiredUInt32(_ number: UInt32, _ name: String) throws(ImageError) -> UInt32 {
        guard let v = try uint32(number, name) else { throw .malformed(file: "", "no \(name)") }
        return v
    }

    /// A required int32 field: a negative value is the varint of its 64-bit
    /// sign extension (ten bytes). Anything else above 2^31-1 is refused:
    /// protobuf-c would keep only its low 32 bits.
    public func requiredInt32(_ number: UInt32, _ name: String) throws(ImageError) -> Int32 {
        guard let v = try uint64(number, name) else { throw .malformed(file: "", "no \(name)") }
        let signed = Int64(bitPattern: v)
        guard let value = Int32(exactly: signed) else { throw .forbidden(file: "", "\(name) \(signed) does not fit in 32 bits") }
        return value
    }

    public func requiredUInt64(_ number: UInt32, _ name: String) throws(ImageError) -> UInt64 {
        guard let v = try uint64(number, name) else { throw .malformed(file: "", "no \(name)") }
        return v
    }

    public func bool(_ number: UInt32, _ name: String) throws(ImageError) -> Bool? {
        guard let v = try uint64(number, name) else { return nil }
        return v != 0
    }

    /// A singular length-delimited field (bytes, string or message).
    public func bytes(_ number: UInt32, _ name: String) throws(ImageError) -> ArraySlice<UInt8>? {
        guard let value = try single(number, name) else { return nil }
        guard case .bytes(let b) = value else { throw .malformed(file: "", "\(name) has the wrong wire type") }
        return b
    }

    public func string(_ number: UInt32, _ name: String) throws(ImageError) -> String? {
        guard let b = try bytes(number, name) else { return nil }
        guard let s = String(validating: b, as: UTF8.self) else { throw .malformed(file: "", "\(name) is not UTF-8") }
        return s
    }

    /// A singular embedded message.
    public func message(_ number: UInt32, _ name: String, depth: Int = 0) throws(ImageError) -> ProtobufMessage? {
        guard depth < Self.maximumDepth else { throw .malformed(file: "", "nested too deeply") }
        guard let b = try bytes(number, name) else { return nil }
        return try ProtobufMessage(decoding: b)
    }

    public func requiredMessage(_ number: UInt32, _ name: String) throws(ImageError) -> ProtobufMessage {
        guard let m = try message(number, name) else { throw .malformed(file: "", "no \(name)") }
        return m
    }

    /// A repeated embedded message field, every occurrence.
    public func messages(_ number: UInt32, _ name: String) throws(ImageError) -> [ProtobufMessage] {
        var result: [ProtobufMessage] = []
        for field in occurrences(number) {
            guard case .bytes(let b) = field.value else { throw .malformed(file: "", "\(name) has the wrong wire type") }
            result.append(try ProtobufMessage(decoding: b))
        }
        return result
    }

    /// A repeated uint32 field in either encoding: unpacked (one varint per
    /// occurrence) or packed (a length-delimited run of varints), or both
    /// mixed, as protobuf-c accepts. Every value is returned.
    public func repeatedUInt32(_ number: UInt32, _ name: String) throws(ImageError) -> [UInt32] {
        var result: [UInt32] = []
        func push(_ v: UInt64) throws(ImageError) {
            guard v <= UInt64(UInt32.max) else { throw .forbidden(file: "", "\(name) value \(v) does not fit in 32 bits") }
            result.append(UInt32(v))
        }
        for field in occurrences(number) {
            switch field.value {
            case .varint(let v):
                try push(v)
            case .bytes(let run):
                var i = run.startIndex
                while i < run.endIndex { try push(try Self.varint(run, &i)) }
            default:
                throw .malformed(file: "", "\(name) has the wrong wire type")
            }
        }
        return result
    }
}
