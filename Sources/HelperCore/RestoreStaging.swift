import CapabilityGuard
import CriuImages
import LinuxSystem

/// The private copy of a generation that criu restores from: a tmpfs that is
/// mounted nowhere (fsopen/fsmount, reachable only through the helper's
/// descriptor), owned by the caller, mode 0700. Every image that steers
/// criu is copied in and then validated *there*, so the caller cannot swap
/// a file between the check and criu reading it.
///
/// Page data (pages-*.img) is memory contents only and can be gigabytes:
/// it is not copied but linked by absolute path to the caller's file. criu
/// opens it with the caller's uid and CAP_CHECKPOINT_RESTORE alone — no
/// CAP_SYS_PTRACE, no DAC override — so whatever the caller puts at that path
/// can only be a file the caller could read anyway.
public final class RestoreStaging {
    public let root: FileDescriptor
    /// Image names present in the copy.
    public private(set) var names: [String] = []

    /// Metadata images larger than this are refused; the copy as a whole is
    /// bounded by the tmpfs size.
    static let maximumCopiedBytes: Int64 = 512 << 20

    init(root: consuming FileDescriptor) { self.root = root }

    /// Creates the tmpfs (CAP_SYS_ADMIN, effective for that call only) and
    /// fills it from `source`, the generation directory at `sourcePath`.
    public static func prepare(from source: borrowing FileDescriptor, sourcePath: String, caller: Caller,
                               session: Session) throws(HelperFailure) -> RestoreStaging {
        let listing: [String]
        do { listing = try source.entries() } catch { throw .internalError("cannot list the generation: \(error.errno)") }
        var plan: [(name: String, link: Bool, size: Int64)] = []
        var total: Int64 = 0
        for name in listing.sorted() {
            switch ImageKind.classify(name) {
            case .refused(let why):
                throw .refused("\(name): \(why)")
            case .other:
                continue
            case .image(let kind):
                let st: FileStatus
                do { st = try source.status(of: name) } catch { throw .internalError("\(name): \(error.errno)") }
                guard st.isRegularFile else { throw .refused("\(name) is \(st.kindDescription)") }
                guard st.linkCount == 1 else { throw .refused("\(name) is a hard link (it has \(st.linkCount) names)") }
                guard st.owner == caller.uid else { throw .refused("\(name) belongs to uid \(st.owner), not to the caller") }
                if !kind.isPageData {
                    guard st.size <= Int64(ImageValidator.maximumImageSize) else { throw .refused("\(name) is too large (\(st.size) bytes)") }
                    total += st.size
                }
                plan.append((name, kind.isPageData, st.size))
            }
        }
        guard total <= maximumCopiedBytes else { throw .refused("the generation's metadata images are too large (\(total) bytes)") }

        let tmpfs: Int32 = try session.withCapabilities { (caps) throws(HelperFailure) -> Int32 in
            let created: Result<Int32, SystemError> = caps.withEffective(.sysAdmin) { () -> Result<Int32, SystemError> in
                do throws(SystemError) {
                    return .success(try DetachedTmpfs.create(sizeBytes: total + (16 << 20), owner: caller.uid, group: caller.gid).release())
                } catch { return .failure(error) }
            }
            return try created.mapError { HelperFailure.unavailable("cannot create the private copy: \($0)") }.get()
        }
        let staging = RestoreStaging(root: FileDescriptor(adopting: tmpfs))
        for item in plan {
            do {
                if item.link {
                    try staging.root.makeSymbolicLink(item.name, to: sourcePath + "/" + item.name)
                } else {
                    let input = try source.open(item.name, [.noFollow, .nonBlocking], resolve: [.noSymlinks, .beneath])
                    guard try input.status().isRegularFile else { throw HelperFailure.refused("\(item.name) changed while it was copied") }
                    let output = try staging.root.open(item.name, [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600)
                    try output.copyContents(from: input)
                }
                staging.names.append(item.name)
            } catch let failure as HelperFailure {
                throw failure
            } catch {
                throw .unavailable("cannot copy \(item.name) into the private copy: \(error)")
            }
        }
        return staging
    }

    /// Reads a copied image (never a linked page file).
    public func read(_ name: String) throws(ImageError) -> [UInt8] {
        try Session.readImage(root, name)
    }
}
