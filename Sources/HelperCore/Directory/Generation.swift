/// A checkpoint generation: one criu dump, in its own directory inside the
/// images directory. `g000007.partial` while criu writes it; renamed to
/// `g000007` — atomically — only when criu succeeded and the post-dump
/// checks passed; `g000007.failed` when it did not (kept for its log).
/// The good generations are exactly the directories named `gNNNNNN`; the
/// latest good one is the highest number.
public struct Generation: Equatable, Comparable, Sendable, CustomStringConvertible {
    public var number: Int

    public init(number: Int) { self.number = number }

    public var name: String {
        let digits = String(number)
        return "g" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }
    public var partialName: String { name + ".partial" }
    public var failedName: String { name + ".failed" }
    public var description: String { name }

    public static func < (a: Generation, b: Generation) -> Bool { a.number < b.number }

    public enum State: String, Sendable { case good, partial, failed }

    /// Parses "g000007", "g000007.partial", "g000007.failed".
    public static func parse(_ name: String) -> (Generation, State)? {
        var stem = Substring(name)
        var state = State.good
        if stem.hasSuffix(".partial") { stem = stem.dropLast(8); state = .partial }
        else if stem.hasSuffix(".failed") { stem = stem.dropLast(7); state = .failed }
        guard isValidName(String(stem)), let n = Int(stem.dropFirst()) else { return nil }
        return (Generation(number: n), state)
    }

    public static func isValidName(_ name: String) -> Bool {
        let digits = name.utf8.dropFirst()
        return name.utf8.first == UInt8(ascii: "g") && digits.count >= 6 && digits.count <= 9
            && digits.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }
}
