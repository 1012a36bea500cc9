import HelperCore
import LinuxSystem
import Testing

/// The rule for the directories above an images directory (red team 8: a
/// directory another user may rename lets them swap the page files a
/// restore reads by path).
@Suite("directories above the images directory")
struct ImagesDirectoryRuleTests {
    let caller: UInt32 = 1001

    func directory(_ mode: UInt32, owner: UInt32) -> FileStatus {
        FileStatus(mode: 0o040000 | mode, owner: owner, group: owner)
    }

    @Test("root's or the caller's, writable by them alone, or sticky: accepted", arguments: [
        (0o755 as UInt32, 0 as UInt32), (0o700, 1001), (0o1777, 0), (0o1777, 1001), (0o1775, 0), (0o555, 0),
    ])
    func accepted(mode: UInt32, owner: UInt32) {
        #expect(ImagesDirectory.ancestorProblem(directory(mode, owner: owner), callerUID: caller) == nil)
    }

    @Test("another user's directory is refused, whatever its mode", arguments: [0o755 as UInt32, 0o700, 0o1777, 0o555])
    func anotherUsers(mode: UInt32) {
        let why = ImagesDirectory.ancestorProblem(directory(mode, owner: 1002), callerUID: caller)
        #expect(why == "which belongs to uid 1002")
    }

    @Test("writable by group or others without the sticky bit is refused, root's or the caller's", arguments: [
        (0o775 as UInt32, 0 as UInt32), (0o777, 0), (0o757, 1001), (0o2775, 0), (0o770, 1001),
    ])
    func writableWithoutSticky(mode: UInt32, owner: UInt32) {
        let why = ImagesDirectory.ancestorProblem(directory(mode, owner: owner), callerUID: caller)
        #expect(why == "which group or others may write to without the sticky bit (mode \(String(mode, radix: 8)))")
    }
}
