/// What the caller asked for, parsed strictly from argv. Nothing here is
/// ever passed to criu as text: CriuInvocation builds criu's arguments from
/// these typed values.
public enum Request: Equatable, Sendable {
    case dump(DumpRequest)
    case restore(RestoreRequest)
    case run(RunRequest)
    case list(imagesDirectory: String)
    case check
    case help
    case version

    /// The operation's name in audit records and the job's log.
    public var operation: String {
        switch self {
        case .dump: return "dump"
        case .restore: return "restore"
        case .run: return "run"
        case .list: return "list"
        case .check: return "check"
        case .help: return "help"
        case .version: return "version"
        }
    }
}

public struct DumpRequest: Equatable, Sendable {
    public var pid: Int32?
    public var imagesDirectory: String
    public var leaveRunning: Bool
    public var keep: Int?

    public init(pid: Int32?, imagesDirectory: String, leaveRunning: Bool, keep: Int?) {
        self.pid = pid
        self.imagesDirectory = imagesDirectory
        self.leaveRunning = leaveRunning
        self.keep = keep
    }
}

public struct RestoreRequest: Equatable, Sendable {
    public var imagesDirectory: String
    public var wait: Bool
    public var generation: String?
    /// --wait only: dump the restored job every so many seconds, as `run` does.
    public var checkpointEvery: Int? = nil
    public var keep: Int? = nil
    /// Leave the job's output files as they are (no cut back to the checkpoint).
    public var keepOutput = false
}

public struct RunRequest: Equatable, Sendable {
    public var imagesDirectory: String?
    public var checkpointEvery: Int?
    public var keep: Int?
    public var command: [String]
    /// The job in a network namespace of its own, loopback only.
    public var privateNetwork: Bool

    public init(imagesDirectory: String?, checkpointEvery: Int?, keep: Int?, command: [String], privateNetwork: Bool = false) {
        self.imagesDirectory = imagesDirectory
        self.checkpointEvery = checkpointEvery
        self.keep = keep
        self.command = command
        self.privateNetwork = privateNetwork
    }
}
