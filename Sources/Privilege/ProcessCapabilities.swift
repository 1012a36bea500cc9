import CCap
import LinuxSystem

/// The three capability sets of the calling thread, read and written with libcap.
public struct ProcessCapabilities: Equatable, Sendable {
    public var permitted: CapabilitySet
    public var effective: CapabilitySet
    public var inheritable: CapabilitySet

    /// cap_get_proc(3)
    public static func current() throws(CapabilityError) -> ProcessCapabilities {
        guard let caps = cap_get_proc() else { throw .systemCall("cap_get_proc") }
        defer { cap_free(UnsafeMutableRawPointer(caps)) }
        return ProcessCapabilities(
            permitted: read(caps, CAP_PERMITTED),
            effective: read(caps, CAP_EFFECTIVE),
            inheritable: read(caps, CAP_INHERITABLE)
        )
    }

    /// cap_set_proc(3) with exactly these sets (CapabilityState only).
    static func apply(permitted: CapabilitySet, effective: CapabilitySet, inheritable: CapabilitySet) throws(CapabilityError) {
        guard let caps = cap_init() else { throw .systemCall("cap_init") }
        defer { cap_free(UnsafeMutableRawPointer(caps)) }
        for (flag, set) in [(CAP_PERMITTED, permitted), (CAP_EFFECTIVE, effective), (CAP_INHERITABLE, inheritable)] {
            var values = set.numbers.map { cap_value_t($0) }
            if !values.isEmpty {
                guard cap_set_flag(caps, flag, Int32(values.count), &values, CAP_SET) == 0 else {
                    throw .systemCall("cap_set_flag")
                }
            }
        }
        guard cap_set_proc(caps) == 0 else { throw .systemCall("cap_set_proc: \(Errno.current)") }
    }

    private static func read(_ caps: cap_t, _ flag: cap_flag_t) -> CapabilitySet {
        var set = CapabilitySet.none
        let last = lastCapability
        for n in 0...last {
            var value = CAP_CLEAR
            if cap_get_flag(caps, cap_value_t(n), flag, &value) == 0, value == CAP_SET {
                set.insert(CapabilitySet(rawValue: 1 << UInt64(n)))
            }
        }
        return set
    }

    /// The highest capability number this kernel knows, read from
    /// /proc/sys/kernel/cap_last_cap rather than trusted from headers.
    public static let lastCapability: Int32 = readLastCapability()

    static func readLastCapability() -> Int32 {
        if let fd = try? FileDescriptor.open("/proc/sys/kernel/cap_last_cap", .readOnly),
           let bytes = try? fd.readAll(limit: 64),
           let n = Int32(String(decoding: bytes, as: UTF8.self).trimmingWhitespace()), n > 0, n < 64 {
            return n
        }
        return 40
    }
}

/// File capabilities of an executable (the `security.capability` attribute), as getcap shows them.
public struct FileCapabilities: Equatable, Sendable, CustomStringConvertible {
    public var permitted: CapabilitySet
    public var inheritable: CapabilitySet
    public var effective: CapabilitySet

    public init(permitted: CapabilitySet, inheritable: CapabilitySet, effective: CapabilitySet) {
        self.permitted = permitted
        self.inheritable = inheritable
        self.effective = effective
    }

    /// cap_get_fd(3); nil when the file has no capabilities.
    public static func read(_ fd: borrowing FileDescriptor) -> FileCapabilities? {
        guard let caps = cap_get_fd(fd.rawValue) else { return nil }
        defer { cap_free(UnsafeMutableRawPointer(caps)) }
        var result = FileCapabilities(permitted: .none, inheritable: .none, effective: .none)
        for n in 0...ProcessCapabilities.lastCapability {
            let bit = CapabilitySet(rawValue: 1 << UInt64(n))
            var value = CAP_CLEAR
            if cap_get_flag(caps, cap_value_t(n), CAP_PERMITTED, &value) == 0, value == CAP_SET { result.permitted.insert(bit) }
            if cap_get_flag(caps, cap_value_t(n), CAP_INHERITABLE, &value) == 0, value == CAP_SET { result.inheritable.insert(bit) }
            if cap_get_flag(caps, cap_value_t(n), CAP_EFFECTIVE, &value) == 0, value == CAP_SET { result.effective.insert(bit) }
        }
        return result
    }

    public var description: String {
        var parts = "\(permitted)+p"
        if !effective.isEmpty { parts += " effective \(effective)" }
        if !inheritable.isEmpty { parts += " inheritable \(inheritable)" }
        return parts
    }
}


extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\n" || l == "\t" { s.removeLast() }
        return String(s)
    }
}
