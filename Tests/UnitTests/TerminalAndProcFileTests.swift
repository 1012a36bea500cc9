import Credentials
@testable import CriuImages
import ImageForging
import LinuxSystem
import Testing

/// Hand-built files.img, tty-info.img and tty-data.img entries as criu 4.2
/// writes them for the job's own pseudo-terminals and /proc files (the
/// end-to-end suite and zdtm restore real ones).
@Suite("terminals and /proc files of the job")
struct TerminalAndProcFileTests {
    static let caller = CredentialRule(uid: 1001, groups: [1001, 100], requireNoNewPrivileges: true)
    static let filesMagic: UInt32 = 0x5630_3138

    static func field(_ n: UInt32, _ v: UInt64) -> ProtobufMessage.Field { .init(number: n, value: .varint(v)) }
    static func field(_ n: UInt32, _ m: [ProtobufMessage.Field]) -> ProtobufMessage.Field {
        .init(number: n, value: .bytes(ArraySlice(Wire.encode(m))))
    }
    static func field(_ n: UInt32, _ s: String) -> ProtobufMessage.Field { .init(number: n, value: .bytes(ArraySlice(Array(s.utf8)))) }

    /// A reg_file_entry of `path` opened with `flags`.
    static func regular(_ id: UInt64, _ path: String, flags: UInt64 = 0o2) -> [UInt8] {
        Wire.encode([field(1, 1), field(2, id), field(3, [field(1, id), field(2, flags), field(3, 0), field(5, []), field(6, path)])])
    }
    /// A tty_file_entry of terminal `info`, its path in entry `path`.
    static func terminal(_ id: UInt64, info: UInt64, path: UInt64) -> [UInt8] {
        Wire.encode([field(1, 11), field(2, id), field(19, [field(1, id), field(2, info), field(3, 0o100002), field(4, []), field(6, path)])])
    }
    static func files(_ entries: [[UInt8]]) throws(ImageError) -> FileTable {
        try FileTable(filesImage: Wire.image(magic: filesMagic, entries: entries), caller: caller)
    }

    /// tty_info_entry: type 1 (PTY) or 4 (CTTY), rdev as criu records st_rdev.
    static func info(_ id: UInt64, type: UInt64 = 1, rdev: UInt64, index: UInt64? = nil, sid: UInt64 = 50, pgrp: UInt64 = 50,
                     uid: UInt64 = 1001, gid: UInt64 = 1001) -> [UInt8] {
        var f = [field(1, id), field(2, type), field(3, 0), field(4, 0), field(5, 0), field(6, sid), field(7, pgrp), field(8, rdev)]
        if let index { f.append(field(12, [field(1, index)])) }
        f += [field(13, 6), field(14, uid), field(15, gid)]
        return Wire.encode(f)
    }
    static let master: UInt64 = 5 << 8 | 2
    static func slave(_ n: UInt64) -> UInt64 { 136 << 8 | n & 0xff | (n & ~0xff) << 12 }

    static func process(_ pid: UInt64, session: UInt64 = 50, group: UInt64 = 50, threads: [UInt64]? = nil) throws -> ProcessEntry {
        var f = [field(1, pid), field(2, 0), field(3, group), field(4, session)]
        for t in threads ?? [pid] { f.append(field(5, t)) }
        return try ProcessEntry(ProtobufMessage(decoding: ArraySlice(Wire.encode(f))))
    }

    /// The job's own pair (master /dev/ptmx, slave /dev/pts/3) and its /dev/tty.
    static func pairFiles(slavePath: String = "/dev/pts/3") throws(ImageError) -> FileTable {
        try files([terminal(10, info: 1, path: 11), regular(11, "/dev/ptmx"),
                   terminal(12, info: 0, path: 13), regular(13, slavePath),
                   terminal(14, info: 2, path: 15), regular(15, "/dev/tty")])
    }
    static func pairInfo(_ tweak: [[UInt8]] = []) -> [UInt8] {
        Wire.image(magic: ImageKind.ttyInfo.magic!, entries: [info(1, rdev: master, index: 3, uid: 0, gid: 0), info(0, rdev: slave(3), index: 3),
                                                             info(2, type: 4, rdev: 5 << 8, uid: 0, gid: 0)] + tweak)
    }
    func table(_ files: FileTable, _ info: [UInt8], data: [UInt8]? = nil, processes: [ProcessEntry]? = nil) throws -> TerminalTable {
        try TerminalTable(info: info, data: data, files: files, processes: processes ?? [try Self.process(50)], caller: Self.caller,
                          terminalGroup: 5)
    }

    @Test("a pseudo-terminal pair the job opened and its /dev/tty pass, with queued data")
    func terminalPair() throws {
        let files = try Self.pairFiles()
        #expect(files.terminalFiles[12] == FileTable.TerminalFile(infoID: 0, path: "/dev/pts/3"))
        #expect(files.regularFiles.isEmpty, "terminal paths are not plain files (no live look-up of /dev/pts/3, which is someone else's now)")
        let data = Wire.image(magic: ImageKind.ttyData.magic!, entries: [Wire.encode([Self.field(1, 0), Self.field(2, "hello\n")])])
        let t = try table(files, Self.pairInfo(), data: data)
        #expect(t.terminals[0] == TerminalTable.Terminal(role: .slave, index: 3))
        #expect(t.terminals[1]?.role == .master)
        // The slave's group may be the system's terminal group.
        _ = try table(files, Wire.image(magic: ImageKind.ttyInfo.magic!, entries: [
            Self.info(1, rdev: Self.master, index: 3, uid: 0, gid: 0), Self.info(0, rdev: Self.slave(3), index: 3, gid: 5),
            Self.info(2, type: 4, rdev: 5 << 8, uid: 0, gid: 0)]))
        // Index 300: major 136, minor 300.
        _ = try table(try Self.files([Self.terminal(12, info: 0, path: 13), Self.regular(13, "/dev/pts/300")]),
                      Wire.image(magic: ImageKind.ttyInfo.magic!, entries: [Self.info(0, rdev: Self.slave(300), index: 300)]))
    }

    @Test("terminals criu-helper does not restore, or that are not what they say, are refused", arguments: [
        (2, "the system console"), (3, "a virtual console"), (5, "a terminal from outside the job"), (6, "a serial line"),
    ])
    func otherTerminals(_ type: Int, _ text: String) throws {
        let files = try Self.files([])
        do {
            _ = try table(files, Wire.image(magic: ImageKind.ttyInfo.magic!, entries: [Self.info(7, type: UInt64(type), rdev: 4 << 8 | 1)]))
            Issue.record("accepted \(text)")
        } catch { #expect("\(error)".contains(text), "\(error)") }
    }

    @Test("a slave whose path is another terminal, a foreign session, owner or device, unlisted data: refused")
    func forgedTerminals() throws {
        let cases: [(FileTable, [UInt8], [UInt8]?, String)] = [
            (try Self.pairFiles(slavePath: "/dev/pts/4"), Self.pairInfo(), nil, "is \"/dev/pts/4\", but its terminal 0 is /dev/pts/3"),
            (try Self.pairFiles(), Wire.image(magic: ImageKind.ttyInfo.magic!, entries: [
                Self.info(1, rdev: Self.master, index: 3), Self.info(0, rdev: Self.slave(4), index: 3), Self.info(2, type: 4, rdev: 5 << 8)]),
             nil, "not a pseudo-terminal of that index"),
            (try Self.pairFiles(), Self.pairInfo().withSession(of: 0, 999), nil, "session 999, which is not the job's"),
            (try Self.pairFiles(), Self.pairInfo().withSession(of: 0, 50, group: 77), nil, "foreground process group 77"),
            (try Self.pairFiles(), Wire.image(magic: ImageKind.ttyInfo.magic!, entries: [
                Self.info(1, rdev: Self.master, index: 3), Self.info(0, rdev: Self.slave(3), index: 3, uid: 1002), Self.info(2, type: 4, rdev: 5 << 8)]),
             nil, "owner uid 1002"),
            (try Self.pairFiles(), Wire.image(magic: ImageKind.ttyInfo.magic!, entries: [
                Self.info(1, rdev: Self.master, index: 3), Self.info(0, rdev: Self.slave(3), index: 3, gid: 6), Self.info(2, type: 4, rdev: 5 << 8)]),
             nil, "owner gid 6"),
            (try Self.pairFiles(), Wire.image(magic: ImageKind.ttyInfo.magic!, entries: [
                Self.info(1, rdev: Self.master, index: 3), Self.info(0, rdev: Self.slave(3), index: 3), Self.info(2, type: 4, rdev: 4 << 8 | 1)]),
             nil, "not /dev/tty"),
            (try Self.pairFiles(), Self.pairInfo(), Wire.image(magic: ImageKind.ttyData.magic!, entries: [Wire.encode([Self.field(1, 9), Self.field(2, "x")])]),
             "terminal 9, which tty-info.img does not list"),
            (try Self.files([Self.terminal(12, info: 0, path: 13), Self.regular(13, "/dev/pts/3")]), Wire.image(magic: ImageKind.ttyInfo.magic!, entries: []),
             nil, "tty-info.img does not list"),
        ]
        for (files, info, data, text) in cases {
            do { _ = try table(files, info, data: data); Issue.record("accepted: \(text)") } catch {
                #expect("\(error)".contains(text), "\(error)")
            }
        }
    }

    @Test("terminal paths: only /dev/ptmx, /dev/pts/ptmx, /dev/pts/N and /dev/tty, spelled as the kernel spells them", arguments: [
        ("/dev/ptmx", true), ("/dev/pts/ptmx", true), ("/dev/pts/0", true), ("/dev/pts/4095", true), ("/dev/tty", true),
        ("/dev/pts/03", false), ("/dev/pts/-1", false), ("/dev/pts/", false), ("/dev//pts/1", false), ("/dev/pts/1/", false),
        ("/dev/tty1", false), ("/dev/console", false), ("/dev/ttyS0", false), ("/dev/sda", false), ("/home/a/ptmx", false),
        ("/dev/pts/./1", false),
    ])
    func terminalPaths(_ path: String, _ allowed: Bool) {
        #expect(((try? PathPolicy.checkTerminal(path, what: "terminal")) != nil) == allowed)
    }

    @Test("a terminal's path entry opened as a plain file by a descriptor is refused; so is a terminal without its own path entry")
    func terminalPathAsPlainFile() throws {
        let files = try Self.pairFiles()
        let fdinfo = Wire.image(magic: ImageKind.fdinfo(0).magic!, entries: [Wire.encode([Self.field(1, 13), Self.field(2, 0), Self.field(3, 1), Self.field(4, 5)])])
        do { try files.checkDescriptors(fdinfo); Issue.record("accepted") } catch { #expect("\(error)".contains("terminal path 13 as a plain file"), "\(error)") }
        do { _ = try Self.files([Self.terminal(12, info: 0, path: 99)]); Issue.record("accepted") } catch {
            #expect("\(error)".contains("no path entry of its own"), "\(error)")
        }
        // Outside a terminal, /dev/pts/3 is still refused as a file.
        do { _ = try Self.files([Self.regular(13, "/dev/pts/3")]); Issue.record("accepted") } catch {
            #expect("\(error)".contains("is a device or in /dev"), "\(error)")
        }
    }

    // MARK: /proc

    @Test("/proc paths of a process, as the kernel spells them", arguments: [
        ("/proc/42/stat", true), ("/proc/42", true), ("/proc/42/task/43/status", true), ("/proc/42/task/43", true), ("/proc/42/maps", true),
        ("/proc/42/mem", false), ("/proc/42/pagemap", false), ("/proc/42/map_files/400000-401000", false), ("/proc/42/fd/3", false),
        ("/proc/42/root", false), ("/proc/42/ns/net", false), ("/proc/42/environ", false), ("/proc/42/attr/current", false),
        ("/proc/self/stat", false), ("/proc/sys/kernel/core_pattern", false), ("/proc/042/stat", false), ("/proc/0/stat", false),
        ("/proc/42/", false), ("/proc/42//stat", false), ("/proc/42/task", false), ("/proc/42/task/43/mem", false),
        ("/proc/kcore", false), ("/proc/42/stat/x", false),
    ])
    func procPaths(_ path: String, _ allowed: Bool) {
        #expect((ProcessFilePath(path) != nil) == allowed)
    }

    @Test("a /proc file of the job's own task, read-only, passes; of another process, or opened for writing, or non-canonical, it is refused")
    func procFiles() throws {
        let tree = [try Self.process(50, threads: [50, 51]), try Self.process(60)]
        let own = try Self.files([Self.regular(1, "/proc/60/stat", flags: 0), Self.regular(2, "/proc/50/task/51/status", flags: 0)])
        #expect(own.regularFiles.isEmpty && own.procFiles.count == 2)
        #expect(try ImageValidator.checkProcFiles(own, remaps: nil, processes: tree, pidMax: 32768).isEmpty)
        for (path, text) in [("/proc/1/status", "in /proc of a process that is not the job's"),
                             ("/proc/50/task/52/status", "in /proc of a process that is not the job's"),
                             ("/proc/999", "in /proc of a process that is not the job's")] {
            let other = try Self.files([Self.regular(1, path, flags: 0)])
            do { _ = try ImageValidator.checkProcFiles(other, remaps: nil, processes: tree, pidMax: 32768); Issue.record("accepted \(path)") } catch {
                #expect("\(error)".contains(text), "\(error)")
            }
        }
        for (path, flags, text) in [("/proc/60/stat", UInt64(0o2), "opened for writing"), ("/proc/60/stat", 0o1000, "opened for writing"),
                                    ("/proc/sys/kernel/core_pattern", 0, "not a file of a process"), ("/proc/60/mem", 0, "not a file of a process"),
                                    ("//proc/60/stat", 0, "not canonical"), ("/proc/60/../1/stat", 0, "'..' component")] {
            do { _ = try Self.files([Self.regular(1, path, flags: flags)]); Issue.record("accepted \(path)") } catch {
                #expect("\(error)".contains(text), "\(path): \(error)")
            }
        }
    }

    @Test("a process that had ended: criu makes it again for a moment (remap PROCFS), so its PID counts; a remap to another PID does not")
    func endedProcess() throws {
        let tree = [try Self.process(50)]
        let files = try Self.files([Self.regular(1, "/proc/70", flags: 0o200000)])
        func remap(_ file: UInt64, _ pid: UInt64) -> [UInt8] {
            Wire.image(magic: ImageKind.remapPaths.magic!, entries: [Wire.encode([Self.field(1, file), Self.field(2, pid), Self.field(3, 2)])])
        }
        #expect(try ImageValidator.checkProcFiles(files, remaps: remap(1, 70), processes: tree, pidMax: 32768) == [70])
        for (file, pid) in [(UInt64(1), UInt64(71)), (2, 70)] {
            do { _ = try ImageValidator.checkProcFiles(files, remaps: remap(file, pid), processes: tree, pidMax: 32768); Issue.record("accepted") } catch {
                #expect("\(error)".contains("which is not that file's process"), "\(error)")
            }
        }
        do { _ = try ImageValidator.checkProcFiles(files, remaps: nil, processes: tree, pidMax: 32768); Issue.record("accepted") } catch {
            #expect("\(error)".contains("not the job's"), "\(error)")
        }
    }
}

extension [UInt8] {
    /// tty-info.img with entry `id`'s session (and process group) changed.
    func withSession(of id: UInt64, _ sid: UInt64, group: UInt64? = nil) -> [UInt8] {
        let magic = ImageKind.ttyInfo.magic!
        let entries = (try? ImageFile.entries(self, magic: magic)) ?? []
        return Wire.image(magic: magic, entries: entries.map { entry in
            guard (try? entry.uint32(1, "id")) == UInt32(id) else { return Wire.encode(entry.fields) }
            return Wire.encode(entry.setting(6, sid).setting(7, group ?? sid).fields)
        })
    }
}
