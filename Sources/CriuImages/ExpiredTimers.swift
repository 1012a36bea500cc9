/// A periodic timerfd that had expired, unread, when the job was frozen:
/// the kernel shows its remaining time as 0 (/proc/PID/fdinfo computes it
/// from an expiry already passed), criu saves it_value (0, 0), and criu's
/// restorer arms the new timerfd with exactly that, which *disarms* it. The
/// pending expirations are given back (TFD_IOC_SET_TICKS), but the kernel
/// re-arms a periodic timer only from its own expiry, so after one read the
/// job waits forever (README, Limitations; bench/restore-loops.sh measured
/// about half of all restores of a 20 ms ticker lost so).
///
/// What the job had was an armed timer whose next expiry was due: the
/// private copy's files.img gets it_value (0, 1 ns) for such a timer, which
/// criu arms to fire at once and then every interval, as before. Only a
/// relative, periodic timer with value exactly (0, 0) is changed; a one-shot
/// timer that fired stays disarmed (that is what it was), and an absolute
/// one (TFD_TIMER_ABSTIME) is armed by criu at the current time already.
///
/// The change is one byte in place — vnsec's varint 0 becomes 1, the same
/// length — so no entry is re-encoded, and the validator then reads the
/// changed copy like any other.
public enum ExpiredTimers {
    /// timerfd_entry (images/timerfd.proto): settime_flags 6, vsec 7, vnsec 8, isec 9, insec 10.
    static let settimeFlags: UInt32 = 6, valueSeconds: UInt32 = 7, valueNanoseconds: UInt32 = 8
    static let intervalSeconds: UInt32 = 9, intervalNanoseconds: UInt32 = 10
    static let absoluteTime: UInt32 = 1   // TFD_TIMER_ABSTIME

    /// `filesImage` with every expired periodic timer re-armed, and the
    /// file ids of the timers changed. A malformed image is left to the
    /// validator: this throws what the walk found and changes nothing.
    public static func rearm(_ filesImage: [UInt8]) throws(ImageError) -> (image: [UInt8], rearmed: [UInt32]) {
        var image = filesImage
        var rearmed: [UInt32] = []
        for entry in try ImageFile.entries(filesImage, magic: ImageKind.files.magic!) {
            // file_entry: type 1, id 2, tfd 12.
            guard try entry.uint32(1, "type") == FileTable.Kind.timerfd.rawValue,
                  case .bytes(let timer)? = entry.occurrences(12).first?.value,
                  entry.occurrences(12).count == 1 else { continue }
            let fields = try ProtobufMessage.located(timer)
            func only(_ number: UInt32) -> (value: UInt64, at: Range<Int>)? {
                let found = fields.filter { $0.field.number == number }
                guard found.count == 1, case .varint(let v) = found[0].field.value else { return nil }
                return (v, found[0].value)
            }
            guard let flags = only(settimeFlags), flags.value & UInt64(absoluteTime) == 0,
                  let seconds = only(valueSeconds), seconds.value == 0,
                  let nanoseconds = only(valueNanoseconds), nanoseconds.value == 0, nanoseconds.at.count == 1,
                  let intervalS = only(intervalSeconds), let intervalNs = only(intervalNanoseconds),
                  intervalS.value != 0 || intervalNs.value != 0 else { continue }
            image[nanoseconds.at.lowerBound] = 1
            rearmed.append(try entry.requiredUInt32(2, "id"))
        }
        return (image, rearmed)
    }
}
