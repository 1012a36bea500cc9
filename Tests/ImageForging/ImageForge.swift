import CriuImages
import Foundation

/// Encodes protobuf fields and CRIU image framing, to forge images in tests.
public enum Wire {
    public static func varint(_ value: UInt64) -> [UInt8] {
        var v = value, out: [UInt8] = []
        repeat {
            var byte = UInt8(v & 0x7F)
            v >>= 7
            if v != 0 { byte |= 0x80 }
            out.append(byte)
        } while v != 0
        return out
    }

    public static func encode(_ fields: [ProtobufMessage.Field]) -> [UInt8] {
        var out: [UInt8] = []
        for f in fields {
            switch f.value {
            case .varint(let v): out += varint(UInt64(f.number) << 3) + varint(v)
            case .fixed64(let v):
                out += varint(UInt64(f.number) << 3 | 1)
                for i in 0..<8 { out.append(UInt8((v >> (8 * UInt64(i))) & 0xFF)) }
            case .bytes(let b): out += varint(UInt64(f.number) << 3 | 2) + varint(UInt64(b.count)) + Array(b)
            case .fixed32(let v):
                out += varint(UInt64(f.number) << 3 | 5)
                for i in 0..<4 { out.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) }
            }
        }
        return out
    }

    public static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * UInt32($0))) & 0xFF) } }

    /// An image: common magic, kind magic, entries.
    public static func image(magic: UInt32, entries: [[UInt8]], common: Bool = true) -> [UInt8] {
        var out = (common ? le32(ImageFile.commonMagic) : []) + le32(magic)
        for e in entries { out += le32(UInt32(e.count)) + e }
        return out
    }
}

extension ProtobufMessage {
    /// A copy with the sub-message at `number` replaced by `transform` of it.
    public func editing(_ number: UInt32, _ transform: (ProtobufMessage) -> ProtobufMessage) -> ProtobufMessage {
        ProtobufMessage(fields: fields.map { f in
            guard f.number == number, case .bytes(let b) = f.value, let inner = try? ProtobufMessage(decoding: b) else { return f }
            return Field(number: f.number, value: .bytes(ArraySlice(Wire.encode(transform(inner).fields))))
        })
    }
    public func removing(_ number: UInt32) -> ProtobufMessage { ProtobufMessage(fields: fields.filter { $0.number != number }) }
    public func setting(_ number: UInt32, _ value: UInt64) -> ProtobufMessage {
        removing(number).adding(number, .varint(value))
    }
    public func adding(_ number: UInt32, _ value: Value) -> ProtobufMessage {
        ProtobufMessage(fields: fields + [Field(number: number, value: value)])
    }
    public var bytes: [UInt8] { Wire.encode(fields) }
}

/// Rewrites images of a generation directory (as root), keeping framing.
public struct ImageForge {
    public let directory: String
    public init(directory: String) { self.directory = directory }

    public func read(_ name: String) -> [UInt8] { Array((try? Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)"))) ?? Data()) }
    public func write(_ name: String, _ bytes: [UInt8]) { try? Data(bytes).write(to: URL(fileURLWithPath: "\(directory)/\(name)")) }

    /// Entries of a framed image (with the common magic) and its magic.
    public func entries(_ name: String, common: Bool = true) -> (magic: UInt32, entries: [ProtobufMessage]) {
        let bytes = read(name)
        guard bytes.count >= 8 else { return (0, []) }
        let magic = ImageFile.u32(bytes[...], at: common ? 4 : 0)
        var i = common ? 8 : 4
        var result: [ProtobufMessage] = []
        while i + 4 <= bytes.count {
            let size = Int(ImageFile.u32(bytes[...], at: i))
            i += 4
            if let m = try? ProtobufMessage(decoding: bytes[i..<min(i + size, bytes.count)]) { result.append(m) }
            i += size
        }
        return (magic, result)
    }

    public func rewrite(_ name: String, common: Bool = true, _ transform: ([ProtobufMessage]) -> [ProtobufMessage]) {
        let (magic, old) = entries(name, common: common)
        write(name, Wire.image(magic: magic, entries: transform(old).map(\.bytes), common: common))
    }

    /// The credentials of thread `tid`'s core (core → thread_core(5) → creds(10)).
    public func editCredentials(_ tid: Int32, _ transform: @escaping (ProtobufMessage) -> ProtobufMessage) {
        rewrite("core-\(tid).img") { $0.map { $0.editing(5) { $0.editing(10, transform) } } }
    }

    /// The root pid recorded in pstree.img.
    public var rootPID: Int32 {
        guard let first = entries("pstree.img").entries.first, let pid = try? first.requiredUInt32(1, "pid") else { return 0 }
        return Int32(pid)
    }
}
