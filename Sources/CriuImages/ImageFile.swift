/// The framing of CRIU's image files: a 32-bit magic (most files start with
/// the common magic 0x54564319 and then their own), followed by entries, each
/// a little-endian u32 length and a protobuf message of that length. Some
/// kinds carry raw data after an entry.
public enum ImageFile {
    public static let commonMagic: UInt32 = 0x5456_4319
    public static let serviceMagic: UInt32 = 0x5510_5940

    /// The largest single entry accepted. CRIU itself has no bound.
    public static let maximumEntrySize = 16 << 20

    /// How an entry is followed by raw bytes.
    public enum Payload: Sendable {
        case none
        /// A uint32 field of the entry gives the number of raw bytes that follow it.
        case sizeInField(UInt32)
    }

    public static func u32(_ bytes: ArraySlice<UInt8>, at i: Int) -> UInt32 {
        UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
    }

    /// Checks the magic(s) and returns the offset of the first entry.
    public static func checkMagic(_ bytes: [UInt8], magic: UInt32, common: Bool = true,
                                  head: UInt32 = commonMagic) throws(ImageError) -> Int {
        var i = 0
        if common {
            guard bytes.count >= 4, u32(bytes[...], at: 0) == head else {
                throw .malformed(file: "", "bad head magic")
            }
            i = 4
        }
        guard bytes.count >= i + 4, u32(bytes[...], at: i) == magic else { throw .malformed(file: "", "bad magic") }
        return i + 4
    }

    /// Every entry of the file, decoded. Trailing bytes that do not form a
    /// whole entry are refused (CRIU would ignore or misread them).
    public static func entries(
        _ bytes: [UInt8], magic: UInt32, common: Bool = true, head: UInt32 = commonMagic,
        payload: Payload = .none, maximumEntries: Int = 1 << 20
    ) throws(ImageError) -> [ProtobufMessage] {
        var i = try checkMagic(bytes, magic: magic, common: common, head: head)
        var result: [ProtobufMessage] = []
        let all = bytes[...]
        while i < bytes.count {
            guard bytes.count - i >= 4 else { throw .malformed(file: "", "trailing bytes after the last entry") }
            let size = Int(u32(all, at: i))
            i += 4
            guard size <= maximumEntrySize else { throw .malformed(file: "", "entry of \(size) bytes") }
            guard size <= bytes.count - i else { throw .malformed(file: "", "truncated entry") }
            let message = try ProtobufMessage(decoding: all[i..<(i + size)])
            i += size
            if case .sizeInField(let field) = payload {
                let extra = Int(try message.requiredUInt32(field, "payload size"))
                guard extra <= bytes.count - i else { throw .malformed(file: "", "truncated payload") }
                i += extra
            }
            result.append(message)
            guard result.count <= maximumEntries else { throw .malformed(file: "", "more than \(maximumEntries) entries") }
        }
        return result
    }

    /// The single entry of a file that must hold exactly one.
    public static func single(_ bytes: [UInt8], magic: UInt32, common: Bool = true,
                              head: UInt32 = commonMagic) throws(ImageError) -> ProtobufMessage {
        let all = try entries(bytes, magic: magic, common: common, head: head)
        guard all.count == 1 else { throw .malformed(file: "", "\(all.count) entries where one belongs") }
        return all[0]
    }
}
