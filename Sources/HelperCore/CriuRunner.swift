import CapabilityGuard
import LinuxSystem

/// Starts criu: the program from the trusted configuration (opened with
/// O_PATH, executed with execveat), an argument list from CriuInvocation,
/// PATH as its whole environment, descriptors 0-2 and the images directory
/// as 3 and nothing else, signals reset, no_new_privs, and exactly the
/// invocation's capabilities as ambient ones.
public struct CriuRunner {
    public init() {}

    /// Runs criu to completion.
    public func run(
        _ invocation: CriuInvocation, criu: borrowing FileDescriptor, imagesDirectory: Int32?,
        capabilities: borrowing CapabilityGuard, stdout: Int32 = 2
    ) throws(HelperFailure) -> ExitStatus {
        let pid = try start(invocation, criu: criu, imagesDirectory: imagesDirectory, capabilities: capabilities, stdout: stdout)
        do { return try Spawn.wait(pid) } catch { throw .internalError("waiting for criu: \(error)") }
    }

    public func start(
        _ invocation: CriuInvocation, criu: borrowing FileDescriptor, imagesDirectory: Int32?,
        capabilities: borrowing CapabilityGuard, stdout: Int32 = 2
    ) throws(HelperFailure) -> Int32 {
        let null: FileDescriptor
        do { null = try FileDescriptor.open("/dev/null", .readWrite) } catch { throw .internalError("/dev/null: \(error.errno)") }
        var request = SpawnRequest(program: criu.rawValue, arguments: invocation.arguments, environment: CriuInvocation.environment)
        request.passedDescriptors = imagesDirectory.map { [$0] } ?? []
        request.ambientCapabilities = invocation.capabilities.numbers
        request.noNewPrivileges = true
        // If the helper dies, criu dies with it rather than go on unsupervised.
        request.parentDeathSignal = 9
        request.standardInput = null.rawValue
        request.standardOutput = stdout
        request.standardError = 2
        do {
            try capabilities.makeInheritable(invocation.capabilities)
        } catch {
            throw .internalError("cannot prepare criu's capabilities: \(error)")
        }
        defer { capabilities.clearInheritable() }
        do {
            return try Spawn.start(request)
        } catch {
            throw .unavailable("cannot start criu: \(error)")
        }
    }
}
