/// Why an image file was not accepted. Every case names the file.
public enum ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes are not well-formed (protobuf wire format, framing, magic).
    case malformed(file: String, String)
    /// Well-formed, but content that criu-helper does not restore.
    case forbidden(file: String, String)

    public var description: String {
        switch self {
        case .malformed(let file, let why): return "malformed image \(file): \(why)"
        case .forbidden(let file, let why): return "image \(file): \(why)"
        }
    }

    func renamed(_ file: String) -> ImageError {
        switch self {
        case .malformed(_, let why): return .malformed(file: file, why)
        case .forbidden(_, let why): return .forbidden(file: file, why)
        }
    }
}
