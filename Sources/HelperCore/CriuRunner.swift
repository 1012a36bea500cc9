import CapabilityGuard
import LinuxSystem

/// Starts criu: the program from the trusted configuration (opened with
/// O_PATH, executed with execveat), an argument list from CriuInvocation,
/// PATH as its whole environment, descriptors 0-2 and the images directory
/// as 3 and nothing else, signals reset, no_new_privs, and exactly the
/// invocation's capabilities as ambient ones.
public struct CriuRunner {
    /// Where criu runs: in the helper's namespaces, or inside a job's PID and
    /// mount namespaces (jobs started by `run` or restored by the helper).
    public enum Placement {
        case host
        case insideNamespaces(of: JobLocation)
    }

    public init() {}

    /// Runs criu to completion.
    public func run(
        _ invocation: CriuInvocation, criu: borrowing FileDescriptor, imagesDirectory: Int32?,
        capabilities: borrowing CapabilityGuard, placement: Placement = .host
    ) throws(HelperFailure) -> ExitStatus {
        let null: FileDescriptor
        do { null = try FileDescriptor.open("/dev/null", .readWrite) } catch { throw .internalError("/dev/null: \(error.errno)") }
        var request = SpawnRequest(program: criu.rawValue, arguments: invocation.arguments, environment: CriuInvocation.environment)
        request.passedDescriptors = imagesDirectory.map { [$0] } ?? []
        request.ambientCapabilities = invocation.capabilities.numbers
        request.noNewPrivileges = true
        // If the helper dies, criu dies with it rather than go on unsupervised.
        request.parentDeathSignal = 9
        request.standardInput = null.rawValue
        request.standardOutput = 2
        request.standardError = 2
        do {
            try capabilities.makeInheritable(invocation.capabilities)
        } catch {
            throw .internalError("cannot prepare criu's capabilities: \(error)")
        }
        defer { capabilities.clearInheritable() }
        let pid: Int32
        switch placement {
        case .host:
            do { pid = try Spawn.start(request) } catch { throw .unavailable("cannot start criu: \(error)") }
        case .insideNamespaces(let job):
            guard let reaper = job.reaper else { throw .internalError("no namespace to enter") }
            // setns() into the job's PID and mount namespaces needs
            // CAP_SYS_ADMIN and CAP_SYS_CHROOT, effective for the fork only;
            // the intermediate child drops them, criu never has them.
            let started: Result<Int32, SystemError> = capabilities.withEffective([.sysAdmin, .sysChroot]) {
                do throws(SystemError) { return .success(try reaper.startInNamespaces(request)) } catch { return .failure(error) }
            }
            pid = try started.mapError { HelperFailure.unavailable("cannot start criu in the job's namespaces: \($0)") }.get()
        }
        do { return try Spawn.wait(pid) } catch { throw .internalError("waiting for criu: \(error)") }
    }
}
