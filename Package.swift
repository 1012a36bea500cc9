// swift-tools-version:6.0
//
// criu-helper: checkpoint and restore of one's own batch jobs with CRIU,
// from a binary installed with file capabilities.
//
// Dependencies of the privileged binary, and why each one is there:
//   libcap   (Debian libcap-dev)   read, check and drop the helper's own capability sets.
//   libaudit (Debian libaudit-dev) write kernel audit records and encode the values in them.
// No Swift package dependencies, no Foundation: every library the binary loads
// runs with its capabilities, and Foundation reads the environment at start-up.
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "criu-helper",
    products: [
        .executable(name: "criu-helper", targets: ["criu-helper"]),
    ],
    targets: [
        // C: system calls that glibc does not wrap, fork/exec and namespaces.
        .target(name: "CSystem"),
        // C: start-up hygiene, an ELF constructor that runs before Swift.
        // Linked into the executable only (tests keep their environment).
        .target(name: "CStartup"),
        .systemLibrary(name: "CCap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        .systemLibrary(name: "CAudit", pkgConfig: "audit", providers: [.apt(["libaudit-dev"])]),

        // Typed wrappers over the system calls the helper uses (swift-system style).
        .target(name: "LinuxSystem", dependencies: ["CSystem"], swiftSettings: strict),
        .target(name: "CapabilityGuard", dependencies: ["CCap", "LinuxSystem"], swiftSettings: strict),
        .target(name: "AuditLog", dependencies: ["CAudit", "LinuxSystem"], swiftSettings: strict),
        // Reads /proc through directory descriptors pinned by pidfds.
        .target(name: "ProcessTree", dependencies: ["LinuxSystem"], swiftSettings: strict),
        // Strict reader of CRIU's image files (protobuf wire format, written here).
        .target(name: "CriuImages", dependencies: ["LinuxSystem"], swiftSettings: strict),
        // Policy: command line, configuration, images directory, criu invocation.
        .target(
            name: "HelperCore",
            dependencies: ["LinuxSystem", "CapabilityGuard", "AuditLog", "ProcessTree", "CriuImages"],
            swiftSettings: strict
        ),
        .executableTarget(name: "criu-helper", dependencies: ["HelperCore", "LinuxSystem", "CapabilityGuard", "CStartup"],
                         swiftSettings: strict),

        // Writes protobuf and CRIU image framing: forged images for the tests.
        .target(name: "ImageForging", dependencies: ["CriuImages"], path: "Tests/ImageForging"),
        .testTarget(
            name: "UnitTests",
            dependencies: ["LinuxSystem", "ProcessTree", "CriuImages", "HelperCore", "AuditLog", "ImageForging"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["CriuImages", "ImageForging"],
            swiftSettings: strict
        ),
    ]
)
