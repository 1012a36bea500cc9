import LinuxSystem

/// Which network a generation's job ran in, as the helper saw it at dump
/// time: the file `network` in the generation, "private" when the job was in
/// a network namespace the helper made for it (`run --private-network`);
/// no file for the node's network. Restore gives the job a private network
/// again, so that a job once kept away from other users' reach stays so.
///
/// The caller can write this file like every other in their images
/// directory; it only says whether the restored job gets a network namespace
/// of its own — either way criu's capabilities are the same, and the
/// loopback the helper brings up is all that namespace holds.
enum JobNetwork {
    static let fileName = "network"
    static let privateText = "private\n"

    static func recordPrivate(in generation: borrowing FileDescriptor) throws(HelperFailure) {
        do {
            let fd = try generation.open(fileName, [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600,
                                         resolve: [.noSymlinks, .beneath])
            try fd.write(privateText)
            fd.sync()
        } catch {
            throw .internalError("cannot record the job's network in the generation: \(error)")
        }
    }

    /// true: restore into a private network; false: the node's. Anything
    /// but the two spellings is refused.
    static func isPrivate(_ generation: borrowing FileDescriptor, shown: String) throws(HelperFailure) -> Bool {
        let text: String
        do {
            // O_NONBLOCK: the generation was checked before the private
            // copy was made; a FIFO swapped in since is refused below
            // instead of holding the restore, its lock and its capabilities
            // until someone writes to it (red team of this change).
            let fd = try generation.open(fileName, [.noFollow, .nonBlocking], resolve: [.noSymlinks, .beneath])
            guard try fd.status().isRegularFile else { throw HelperFailure.refused("\(shown)/\(fileName) is not a regular file") }
            text = String(decoding: try fd.readAll(limit: 64), as: UTF8.self)
        } catch let failure as HelperFailure {
            throw failure
        } catch let error as SystemError where error.errno == .noSuchFileOrDirectory {
            return false
        } catch {
            throw .internalError("\(shown)/\(fileName): \(error)")
        }
        guard text == privateText else { throw .refused("\(shown)/\(fileName) says neither \"private\" nor nothing") }
        return true
    }
}
