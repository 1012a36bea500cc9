import CriuImages
import ImageForging
import Testing

@Suite("timerfds that had fired unread at the dump")
struct ExpiredTimersTests {
    typealias Field = ProtobufMessage.Field

    /// A files.img entry for a timerfd (file_entry type 17, id, tfd 12).
    static func timerEntry(id: UInt64, flags: UInt64 = 0, value: (UInt64, UInt64), interval: (UInt64, UInt64)) -> [UInt8] {
        let fown = Wire.encode([Field(number: 1, value: .varint(1001)), Field(number: 2, value: .varint(1001))])
        let timer = Wire.encode([
            Field(number: 1, value: .varint(id)), Field(number: 2, value: .varint(0o2000000)),
            Field(number: 3, value: .bytes(ArraySlice(fown))), Field(number: 4, value: .varint(1)),
            Field(number: 5, value: .varint(3)), Field(number: 6, value: .varint(flags)),
            Field(number: 7, value: .varint(value.0)), Field(number: 8, value: .varint(value.1)),
            Field(number: 9, value: .varint(interval.0)), Field(number: 10, value: .varint(interval.1)),
        ])
        return Wire.encode([Field(number: 1, value: .varint(17)), Field(number: 2, value: .varint(id)),
                            Field(number: 12, value: .bytes(ArraySlice(timer)))])
    }

    static func files(_ entries: [[UInt8]]) -> [UInt8] { Wire.image(magic: ImageKind.files.magic!, entries: entries) }

    /// it_value of the one timerfd in `image`.
    static func value(_ image: [UInt8]) throws -> (UInt64, UInt64) {
        let entry = try #require(try ImageFile.entries(image, magic: ImageKind.files.magic!).first)
        guard case .bytes(let b)? = entry.occurrences(12).first?.value else { throw ImageError.malformed(file: "", "no tfd") }
        let timer = try ProtobufMessage(decoding: b)
        return (try timer.uint64(7, "vsec") ?? 99, try timer.uint64(8, "vnsec") ?? 99)
    }

    @Test("an expired periodic timer gets it_value 1 ns, in place, and is reported")
    func expiredPeriodic() throws {
        let image = Self.files([Self.timerEntry(id: 7, value: (0, 0), interval: (0, 20_000_000))])
        let result = try ExpiredTimers.rearm(image)
        #expect(result.rearmed == [7])
        #expect(result.image.count == image.count)
        #expect(try Self.value(result.image) == (0, 1))
        #expect(zip(image, result.image).filter { $0 != $1 }.count == 1)
    }

    @Test("a one-shot that fired, an absolute timer and an armed timer are left as they are",
          arguments: [(UInt64(0), (UInt64(0), UInt64(0)), (UInt64(0), UInt64(0))),   // one-shot, fired
                      (1, (0, 0), (0, 20_000_000)),                                   // TFD_TIMER_ABSTIME
                      (0, (0, 5_000_000), (0, 20_000_000)),                           // armed, 5 ms to go
                      (0, (1, 0), (1, 0))])                                            // armed, 1 s to go
    func leftAlone(_ flags: UInt64, _ value: (UInt64, UInt64), _ interval: (UInt64, UInt64)) throws {
        let image = Self.files([Self.timerEntry(id: 3, flags: flags, value: value, interval: interval)])
        let result = try ExpiredTimers.rearm(image)
        #expect(result.rearmed.isEmpty)
        #expect(result.image == image)
    }

    @Test("only timerfd entries are looked at, each one on its own")
    func severalEntries() throws {
        let regular = Wire.encode([Field(number: 1, value: .varint(1)), Field(number: 2, value: .varint(2)),
                                   Field(number: 3, value: .bytes(ArraySlice(Wire.encode([Field(number: 8, value: .varint(0))]))))])
        let image = Self.files([regular, Self.timerEntry(id: 4, value: (0, 0), interval: (1, 0)),
                                Self.timerEntry(id: 5, value: (0, 0), interval: (0, 0)),
                                Self.timerEntry(id: 6, value: (0, 0), interval: (0, 1))])
        #expect(try ExpiredTimers.rearm(image).rearmed == [4, 6])
    }

    @Test("a malformed files.img throws and nothing is changed")
    func malformed() {
        var image = Self.files([Self.timerEntry(id: 7, value: (0, 0), interval: (0, 1))])
        image.removeLast()
        #expect(throws: ImageError.self) { try ExpiredTimers.rearm(image) }
    }

    @Test("located: each field's value range, as indices of the whole array")
    func locatedRanges() throws {
        let bytes: [UInt8] = [0xFF] + Wire.encode([Field(number: 1, value: .varint(300)),
                                                   Field(number: 2, value: .bytes([9, 9, 9]))])
        let fields = try ProtobufMessage.located(bytes[1...])
        #expect(fields.map(\.value) == [2..<4, 6..<9])
        #expect(Array(bytes[fields[1].value]) == [9, 9, 9])
    }
}
