import CriuImages
import ImageForging
import Testing

@Suite("protobuf wire format")
struct ProtobufMessageTests {
    func decode(_ bytes: [UInt8]) throws(ImageError) -> ProtobufMessage { try ProtobufMessage(decoding: bytes[...]) }

    @Test("varints: 10 bytes at most, 64 bits at most")
    func varintBounds() throws {
        #expect(try decode([0x08] + Wire.varint(UInt64.max)).uint64(1, "x") == UInt64.max)
        #expect(throws: ImageError.self) { try decode([0x08] + Array(repeating: 0xFF, count: 10) + [0x01]) }
        #expect(throws: ImageError.self) { try decode([0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02]) }
        #expect(throws: ImageError.self) { try decode([0x08, 0x80]) }
    }

    @Test("a uint32 field above 2^32-1 is refused (protobuf-c would keep the low bits)")
    func uint32Overflow() throws {
        let m = try decode([0x08] + Wire.varint(1 << 32 | 1001))
        #expect(throws: ImageError.self) { try m.uint32(1, "uid") }
        // An over-long encoding of a small value means the same to both readers.
        #expect(try decode([0x08, 0xE9, 0x87, 0x80, 0x80, 0x80, 0x00]).uint32(1, "uid") == 1001)
    }

    @Test("groups and unknown wire types are refused", arguments: [[UInt8(0x0B)], [0x0C], [0x0E, 0x00], [0x0F, 0x00]])
    func badWireTypes(_ bytes: [UInt8]) {
        #expect(throws: ImageError.self) { try decode(bytes) }
    }

    @Test("a length beyond the end, and truncated fixed fields, are refused")
    func truncation() {
        #expect(throws: ImageError.self) { try decode([0x0A, 0x05, 0x01]) }
        #expect(throws: ImageError.self) { try decode([0x09, 0x01, 0x02]) }
        #expect(throws: ImageError.self) { try decode([0x0D, 0x01]) }
    }

    @Test("a singular field given twice is refused, scalar or message")
    func duplicates() throws {
        let m = try decode([0x08, 0x01, 0x08, 0x02, 0x12, 0x00, 0x12, 0x00])
        #expect(throws: ImageError.self) { try m.uint32(1, "uid") }
        #expect(throws: ImageError.self) { try m.message(2, "creds") }
    }

    @Test("repeated fields are read in both encodings, mixed")
    func packedAndUnpacked() throws {
        let packed = Wire.varint(7) + Wire.varint(0x200000)
        let m = try decode([0x58, 0x00] + [0x5A, UInt8(packed.count)] + packed + [0x58, 0x03])
        #expect(try m.repeatedUInt32(11, "cap_eff") == [0, 7, 0x200000, 3])
    }

    @Test("a wire type that does not match the field is refused")
    func wrongWireType() throws {
        let m = try decode([0x0D, 1, 0, 0, 0])
        #expect(throws: ImageError.self) { try m.uint32(1, "uid") }
    }

    @Test("encoding and decoding round-trip")
    func roundTrip() throws {
        let fields: [ProtobufMessage.Field] = [.init(number: 1, value: .varint(5)), .init(number: 300, value: .bytes([1, 2, 3])),
                                               .init(number: 4, value: .fixed32(9)), .init(number: 5, value: .fixed64(10))]
        #expect(try decode(Wire.encode(fields)).fields == fields)
    }
}
