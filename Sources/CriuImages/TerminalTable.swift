import Credentials
import LinuxSystem

/// tty-info.img and tty-data.img: the pseudo-terminals the job opened
/// itself, which criu makes again. criu runs with cap_checkpoint_restore
/// alone, which no terminal operation looks at, so what it can do to a
/// terminal is what the caller could do: open /dev/ptmx (a new terminal,
/// owned by the caller), open a slave it just made, set modes and window
/// size, make one the controlling terminal of a session that has none
/// (TIOCSCTTY can steal one only with cap_sys_admin) and queue the data
/// that was unread. Locked termios (TIOCSLCKTRMIOS) need cap_sys_admin:
/// criu 4.2 skips them when they are what the new terminal has anyway, and
/// fails the restore otherwise.
///
/// The rules: pseudo-terminals and /dev/tty only (no console, virtual
/// console, serial line or terminal from outside the job); each descriptor's
/// path agrees with the terminal it belongs to (a slave is /dev/pts/N of its
/// own index N, a master /dev/ptmx); the session and process group a
/// terminal controls are the tree's; owners are the caller, or root for
/// the shared /dev/ptmx and /dev/tty nodes; queued data is bounded.
public struct TerminalTable: Sendable {
    /// tty.proto's TtyType.
    enum Kind: UInt32 {
        case unknown = 0, pty = 1, console = 2, virtualConsole = 3, controlling = 4, external = 5, serial = 6
        var refusal: String {
            switch self {
            case .unknown: return "of an unknown kind"
            case .console: return "the system console"
            case .virtualConsole: return "a virtual console"
            case .external: return "a terminal from outside the job"
            case .serial: return "a serial line"
            case .pty, .controlling: return ""
            }
        }
    }

    /// The largest pseudo-terminal index (NR_UNIX98_PTY_MAX) and the most
    /// unread data criu may queue again on one terminal.
    static let maximumIndex: UInt32 = (1 << 20) - 1
    public static let maximumQueuedData = 1 << 20

    public struct Terminal: Sendable, Equatable {
        public enum Role: Sendable, Equatable { case master, slave, controlling }
        public var role: Role
        /// The pseudo-terminal's index (nil for /dev/tty).
        public var index: UInt32?
    }
    public private(set) var terminals: [UInt32: Terminal] = [:]

    /// The device numbers of /dev/tty (5:0), /dev/ptmx (5:2) and the first
    /// pseudo-terminal slaves' major (136).
    static let controllingDevice = (major: UInt64(5), minor: UInt64(0))
    static let masterDevice = (major: UInt64(5), minor: UInt64(2))
    static let slaveMajor: UInt64 = 136

    static func split(_ rdev: UInt64) -> (major: UInt64, minor: UInt64) { FileStatus.deviceNumbers(rdev) }

    /// `terminalGroup`: the group the system gives terminals (the owner
    /// group of /dev/ptmx, `tty` on Debian), which criu records for them.
    public init(info: [UInt8]?, data: [UInt8]?, files: FileTable, processes: [ProcessEntry], caller: CredentialRule,
                terminalGroup: UInt32?) throws(ImageError) {
        let pids = Set(processes.map(\.pid))
        if let info {
            for entry in try ImageFile.entries(info, magic: ImageKind.ttyInfo.magic!) {
                try entry.requireOnly(Set(1...15), in: "tty_info_entry")
                let id = try entry.requiredUInt32(1, "id")
                let rawKind = try entry.requiredUInt32(2, "type")
                let kind = Kind(rawValue: rawKind) ?? .unknown
                let who = "terminal \(id)"
                guard terminals[id] == nil else { throw .malformed(file: "", "\(who) is listed twice") }
                let device = Self.split(UInt64(try entry.requiredUInt32(8, "rdev")))
                let terminal: Terminal
                switch kind {
                case .pty:
                    guard let pty = try entry.message(12, "pty") else { throw .malformed(file: "", "\(who) has no index") }
                    try pty.requireOnly([1], in: "tty_pty_entry")
                    let index = try pty.requiredUInt32(1, "index")
                    guard index <= Self.maximumIndex else { throw .forbidden(file: "", "\(who) has index \(index)") }
                    if device == Self.masterDevice {
                        terminal = Terminal(role: .master, index: index)
                    } else if device == (Self.slaveMajor, UInt64(index)) {
                        terminal = Terminal(role: .slave, index: index)
                    } else {
                        throw .forbidden(file: "", "\(who) (index \(index)) is device \(device.major):\(device.minor), not a pseudo-terminal of that index")
                    }
                case .controlling:
                    guard device == Self.controllingDevice else {
                        throw .forbidden(file: "", "\(who) is device \(device.major):\(device.minor), not /dev/tty")
                    }
                    terminal = Terminal(role: .controlling, index: nil)
                default:
                    throw .forbidden(file: "", "\(who) is \(kind.refusal), which criu-helper does not restore (pseudo-terminals the job opened only)")
                }
                // criu makes the terminal the controlling terminal of `sid`
                // (by its leader) and sets its foreground group `pgrp`.
                let sid = try entry.requiredUInt32(6, "sid")
                let pgrp = try entry.requiredUInt32(7, "pgrp")
                if sid != 0, !(pids.contains(sid) && processes.contains(where: { $0.session == sid })) {
                    throw .forbidden(file: "", "\(who) is the controlling terminal of session \(sid), which is not the job's")
                }
                if pgrp != 0, !processes.contains(where: { $0.processGroup == pgrp }) {
                    throw .forbidden(file: "", "\(who) has foreground process group \(pgrp), which is not the job's")
                }
                // criu gives the terminal this owner again (fchown, as the
                // caller: only what the caller may do anyway).
                if let uid = try entry.uint32(14, "uid"), uid != caller.uid && uid != 0 {
                    throw .forbidden(file: "", "\(who) has owner uid \(uid)")
                }
                if let gid = try entry.uint32(15, "gid"), !caller.groups.contains(gid) && gid != 0 && gid != terminalGroup {
                    throw .forbidden(file: "", "\(who) has owner gid \(gid)")
                }
                for field in [UInt32(9), 10] {
                    if let termios = try entry.message(field, "termios") {
                        try termios.requireOnly(Set(1...8), in: "termios_entry")
                        guard try termios.repeatedUInt32(8, "c_cc").count <= 64 else { throw .malformed(file: "", "\(who) termios") }
                    }
                }
                terminals[id] = terminal
            }
        }
        // Each descriptor's path is the one its terminal has.
        for (fileID, file) in files.terminalFiles.sorted(by: { $0.key < $1.key }) {
            guard let terminal = terminals[file.infoID] else {
                throw .forbidden(file: "", "terminal file \(fileID) refers to terminal \(file.infoID), which tty-info.img does not list")
            }
            let paths: [String]
            switch terminal.role {
            case .master: paths = ["/dev/ptmx", "/dev/pts/ptmx"]
            case .slave: paths = ["/dev/pts/\(terminal.index!)"]
            case .controlling: paths = ["/dev/tty"]
            }
            guard paths.contains(file.path) else {
                throw .forbidden(file: "", "terminal file \(fileID) is \(PathPolicy.quoted(file.path)), but its terminal \(file.infoID) is \(paths[0])")
            }
        }
        if let data {
            var total = 0
            for entry in try ImageFile.entries(data, magic: ImageKind.ttyData.magic!) {
                try entry.requireOnly([1, 2], in: "tty_data_entry")
                let id = try entry.requiredUInt32(1, "tty_id")
                guard terminals[id] != nil else { throw .forbidden(file: "", "queued data for terminal \(id), which tty-info.img does not list") }
                total += try entry.bytes(2, "data")?.count ?? 0
                guard total <= Self.maximumQueuedData else {
                    throw .forbidden(file: "", "more than \(Self.maximumQueuedData) bytes of queued terminal data")
                }
            }
        }
    }

    /// The shared nodes criu opens by path (/dev/ptmx, /dev/pts/ptmx,
    /// /dev/tty) are those devices on the live system, as the caller
    /// reaches them. A slave /dev/pts/N does not exist until criu has made
    /// its terminal again (whoever holds that index now makes the restore
    /// fail; the post-restore check looks at what criu really opened).
    public static func checkLive(_ files: FileTable, inspector: PathPolicy.Inspector) throws(ImageError) {
        for path in Set(files.terminalFiles.values.map(\.path)).sorted() where PathPolicy.terminalIndex(path) == nil {
            let wanted = path == "/dev/tty" ? controllingDevice : masterDevice
            switch inspector(path) {
            case .missing, .unreachable:
                continue
            case .throughSymbolicLink:
                throw .forbidden(file: "", "terminal path goes through a symbolic link: \(PathPolicy.quoted(path))")
            case .found(let st, _, _):
                guard st.isCharacterDevice, split(st.rawDevice) == wanted else {
                    throw .forbidden(file: "", "terminal path \(PathPolicy.quoted(path)) is not device \(wanted.major):\(wanted.minor) here")
                }
            }
        }
    }
}
