public enum InstallationCheck {
    public static func run(arguments: [String]) -> ExitCode { .internalError }
}
