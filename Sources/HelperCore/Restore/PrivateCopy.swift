import CriuImages
import LinuxSystem

/// The private copy of a generation that criu restores from: a tmpfs that is
/// mounted nowhere (reachable only through the helper's descriptor), owned by
/// the caller, mode 0700. Every image that steers criu is copied in and then
/// validated *there*, so the caller cannot swap a file between the check and
/// criu reading it.
///
/// Page data (pages-*.img) is memory contents only and can be gigabytes: it
/// is not copied but linked by absolute path to the caller's file. criu
/// opens it with the caller's uid and its capability alone — no DAC override
/// — so whatever the caller puts at that path can only be a file the caller
/// could read anyway. When the request opened the images directory, only
/// root or the caller could change what the path leads to
/// (ImagesDirectory.checkAncestors); that is checked once, so a caller who
/// moves the directory during her restore voids it (README, Limitations).
final class PrivateCopy {
    let root: FileDescriptor
    /// Image names present in the copy.
    private(set) var names: [String] = []

    /// The largest metadata a restore copies: past this, the generation
    /// cannot be restored by this installation (and a dump of it does not
    /// end the job).
    static let maximumCopiedBytes: Int64 = 512 << 20
    static let pageSize: Int64 = 4096

    init(root: consuming FileDescriptor) { self.root = root }

    /// What the copy of a generation needs: the files (copied or linked), and
    /// the tmpfs size and inode count they take — counted as tmpfs counts,
    /// in whole pages and one inode per file, so that 10,000 threads' small
    /// core images fit as surely as one large one.
    struct Plan {
        var files: [(name: String, link: Bool)] = []
        var bytes: Int64 = 1 << 20
        var inodes = 64

        /// Refused images, wrong kinds of files, another user's files and
        /// what does not fit are named here, before anything is copied.
        static func make(from source: borrowing FileDescriptor, caller: Caller) throws(HelperFailure) -> Plan {
            let listing: [String]
            do { listing = try source.entries() } catch { throw .internalError("cannot list the generation: \(error.errno)") }
            var plan = Plan()
            var metadata: Int64 = 0
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
                    if kind.isPageData {
                        plan.bytes += PrivateCopy.pageSize   // the link
                    } else {
                        guard st.size <= Int64(ImageValidator.maximumImageSize) else {
                            throw .refused("\(name) is too large (\(st.size) bytes)")
                        }
                        metadata += st.size
                        plan.bytes += (st.size + PrivateCopy.pageSize - 1) / PrivateCopy.pageSize * PrivateCopy.pageSize
                    }
                    plan.inodes += 1
                    plan.files.append((name, kind.isPageData))
                }
            }
            guard plan.bytes <= PrivateCopy.maximumCopiedBytes + (1 << 20) else {
                throw .refused("the generation's metadata images take \(metadata) bytes (\(plan.inodes - 64) files, \(plan.bytes) in whole pages), more than the \(PrivateCopy.maximumCopiedBytes) a restore copies")
            }
            return plan
        }
    }

    /// Creates the tmpfs (Privileges.mountPrivateCopy) and fills it from
    /// `source`, the generation directory at `sourcePath`.
    static func prepare(_ plan: Plan, from source: borrowing FileDescriptor, sourcePath: String,
                        session: Session) throws(HelperFailure) -> PrivateCopy {
        let caller = session.caller
        let tmpfs = try session.withPrivileges { (privileges) throws(HelperFailure) -> FileDescriptor in
            do { return try privileges.mountPrivateCopy(bytes: plan.bytes, inodes: plan.inodes, owner: caller.uid, group: caller.gid) }
            catch { throw .unavailable("cannot create the private copy: \(error)") }
        }
        // The mount's descriptor was made with cap_sys_admin effective; criu
        // and the job get one opened as the caller, with no capability (a
        // file remembers its opener's credentials, and some checks read them).
        let root: FileDescriptor
        do { root = try tmpfs.open(".", [.directory, .noFollow]) }
        catch { throw .unavailable("cannot open the private copy: \(error)") }
        let copy = PrivateCopy(root: root)
        for item in plan.files {
            do {
                if item.link {
                    try copy.root.makeSymbolicLink(item.name, to: sourcePath + "/" + item.name)
                } else {
                    let input = try source.open(item.name, [.noFollow, .nonBlocking], resolve: [.noSymlinks, .beneath])
                    guard try input.status().isRegularFile else { throw HelperFailure.refused("\(item.name) changed while it was copied") }
                    let output = try copy.root.open(item.name, [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600)
                    try output.copyContents(from: input)
                }
                copy.names.append(item.name)
            } catch let failure as HelperFailure {
                throw failure
            } catch {
                throw .unavailable("cannot copy \(item.name) into the private copy: \(error)")
            }
        }
        return copy
    }

    /// Re-arms, in the copy, every periodic timerfd that had fired unread at
    /// the dump (ExpiredTimers): the file ids of those timers. Done before
    /// the validation, which then reads the changed files.img. The change
    /// keeps the file's length, so it is written over in place.
    func rearmExpiredTimers() throws(HelperFailure) -> [UInt32] {
        guard names.contains("files.img") else { return [] }
        let changed: (image: [UInt8], rearmed: [UInt32])
        do { changed = try ExpiredTimers.rearm(try read("files.img")) }
        catch { return [] }   // malformed: the validation refuses it with its own words
        guard !changed.rearmed.isEmpty else { return [] }
        do {
            let output = try root.open("files.img", [.writeOnly, .noFollow], resolve: [.noSymlinks, .beneath])
            try output.write(changed.image)
        } catch {
            throw .unavailable("cannot re-arm the expired timers in the private copy: \(error)")
        }
        return changed.rearmed
    }

    /// Reads a copied image (never a linked page file).
    func read(_ name: String) throws(ImageError) -> [UInt8] {
        try Session.readImage(root, name)
    }
}
