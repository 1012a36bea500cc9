import Foundation
import LinuxSystem
@testable import ProcessTree
import Testing

/// The post-restore check's exceptions for descriptors on kernel
/// interfaces, on real descriptors of this process: a /proc file of a
/// process on the /proc of its own mount namespace, read-only; a terminal
/// of the caller's.
@Suite("descriptors a restored task may hold")
struct RestoredDescriptorTests {
    func link(_ fd: Int32) -> String? { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)") }

    @Test("a /proc file of a process, read-only, on this namespace's /proc is one; opened for writing, or another kind of /proc file, it is not")
    func procFile() throws {
        let proc = try ProcFilesystem.system()
        let me = getpid()
        let stat = open("/proc/\(me)/stat", O_RDONLY)
        let comm = open("/proc/\(me)/comm", O_RDWR)
        let pagemap = open("/proc/\(me)/pagemap", O_RDONLY)
        defer { close(stat); close(comm); close(pagemap) }
        try #require(stat >= 0 && comm >= 0 && pagemap >= 0)
        let file = RestoredTree.jobProcFile(pid: me, descriptor: "\(stat)", link: link(stat), in: proc)
        #expect(file == ProcessFilePath("/proc/\(me)/stat"))
        #expect(RestoredTree.jobProcFile(pid: me, descriptor: "\(comm)", link: link(comm), in: proc) == nil, "opened O_RDWR")
        #expect(RestoredTree.jobProcFile(pid: me, descriptor: "\(pagemap)", link: link(pagemap), in: proc) == nil, "pagemap is not a readable leaf")
        // Named by the tree or not.
        let held = [(holder: Int32(7), file: file!)]
        #expect(RestoredTree.procFileProblem(held, processes: [me], threads: [me]) == nil)
        #expect(RestoredTree.procFileProblem(held, processes: [7], threads: [7]) == "restored task 7 holds /proc/\(me)/stat, a file of a process that is not the job's")
    }

    @Test("a pseudo-terminal master and the caller's own slave are terminals of the caller's; the same slave is not another user's")
    func terminals() throws {
        // TIOCSPTLCK and TIOCGPTN (asm-generic/ioctls.h: _IOW/_IOR('T', 0x31/0x30, int)).
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        var unlock: CInt = 0
        var index: CInt = -1
        try #require(master >= 0 && ioctl(master, 0x4004_5431, &unlock) == 0 && ioctl(master, 0x8004_5430, &index) == 0)
        let slave = open("/dev/pts/\(index)", O_RDWR | O_NOCTTY)
        defer { close(master); close(slave) }
        try #require(slave >= 0)
        let m = FileDescriptor(adopting: dup(master))
        let s = FileDescriptor(adopting: dup(slave))
        #expect(RestoredTree.isCallersTerminal(try m.status(), on: try m.fileSystemType(), uid: getuid()))
        #expect(RestoredTree.isCallersTerminal(try s.status(), on: try s.fileSystemType(), uid: getuid()))
        #expect(!RestoredTree.isCallersTerminal(try s.status(), on: try s.fileSystemType(), uid: getuid() + 1))
        let null = try FileDescriptor.open("/dev/null", [.pathOnly])
        #expect(!RestoredTree.isCallersTerminal(try null.status(), on: try null.fileSystemType(), uid: getuid()))
    }
}
