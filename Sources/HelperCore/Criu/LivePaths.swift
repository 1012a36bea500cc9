import CriuImages
import LinuxSystem

/// PathPolicy's live step: a path looked up on the real file system, by the
/// helper with the caller's credentials and no capability effective (what the
/// caller could reach): openat2 with RESOLVE_NO_SYMLINKS, then what the
/// descriptor really is (fstat, fstatfs, file capabilities).
enum LivePaths {
    static func inspect(_ path: String) -> PathPolicy.LiveFile {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, [.pathOnly], resolve: [.noSymlinks, .noMagicLinks])
        } catch {
            switch error.errno {
            case .tooManySymbolicLinks: return .throughSymbolicLink
            case .noSuchFileOrDirectory: return .missing
            default: return .unreachable(error.errno)
            }
        }
        guard let st = try? fd.status(), let type = try? fd.fileSystemType() else { return .unreachable(.current) }
        let capabilities = st.isRegularFile ? ((try? fd.hasFileCapabilities()) ?? false) : false
        return .found(st, type, fileCapabilities: capabilities)
    }
}
