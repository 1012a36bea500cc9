import CStartup
import CSystem
import LinuxSystem

/// What the C constructor (CStartup/startup.c) kept before Swift ran.
enum StartupState {
    /// Hygiene failed: descriptors 0-2 could not be opened, others not
    /// closed, or the process could not be made non-dumpable.
    static var failed: Bool { chs_startup_failure() != 0 }

    /// A hard limit on file size, descriptors or stack is too low (soft
    /// limits were raised to the hard ones).
    static var limitsTooLow: Bool { chs_limits_failure() != 0 }

    /// argv as the kernel passed it (the Swift runtime's CommandLine finds
    /// argv through `environ`, which the constructor replaced).
    static func arguments() -> [String] {
        var count: Int32 = 0
        guard let argv = chs_caller_arguments(&count) else { return [] }
        return (0..<Int(count)).map { argv[$0].map { String(cString: $0) } ?? "" }
    }

    /// The caller's umask, signal dispositions and mask and resource limits
    /// from before the constructor changed them (for the job `run` starts).
    static func callerState() -> CallerState {
        CallerState(chs_caller_state().pointee)
    }

    /// The caller's environment; `environ` itself is already empty.
    static func callerEnvironment() -> [String] {
        var result: [String] = []
        guard var cursor = chs_caller_environment() else { return [] }
        while let entry = cursor.pointee {
            result.append(String(cString: entry))
            cursor += 1
        }
        return result
    }
}
