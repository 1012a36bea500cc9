// swift-tools-version:6.0
//
// criu-helper: checkpoint and restore of one's own batch jobs with CRIU,
// from a binary installed with file capabilities.
//
// Dependencies of the privileged binary, and why each one is there:
//   libcap   (Debian libcap-dev)   read, narrow, raise and drop the helper's own capability sets.
//   libaudit (Debian libaudit-dev) write kernel audit records and encode the values in them.
// No Swift package dependencies, no Foundation: every library the binary loads
// runs with its capabilities, and Foundation reads the environment at start-up.
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "criu-helper",
    products: [
        .executable(name: "criu-helper", targets: ["criu-helper"]),
        .executable(name: "criu-helper-restore-check", targets: ["criu-helper-restore-check"]),
    ],
    targets: [
        // C: system calls that glibc does not wrap; the one child set-up
        // (spawn.c), the job's reaper (reaper.c), criu's supervisor (supervisor.c).
        .target(name: "CSystem"),
        // C: start-up hygiene, an ELF constructor that runs before Swift.
        // Linked into the executable only (tests keep their environment).
        .target(name: "CStartup", dependencies: ["CSystem"]),
        .systemLibrary(name: "CCap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        .systemLibrary(name: "CAudit", pkgConfig: "audit", providers: [.apt(["libaudit-dev"])]),

        // Typed wrappers over the system calls the helper uses (swift-system style).
        .target(name: "LinuxSystem", dependencies: ["CSystem"], swiftSettings: strict),
        // The one rule for whose credentials a task may have.
        .target(name: "Credentials", swiftSettings: strict),
        .target(name: "AuditLog", dependencies: ["CAudit", "LinuxSystem"], swiftSettings: strict),
        // The privileged surface: every act that raises a capability (libcap).
        .target(name: "Privilege", dependencies: ["CCap", "LinuxSystem", "AuditLog"], swiftSettings: strict),
        // Reads /proc through pidfds: the tree check and the restored-tree check.
        .target(name: "ProcessTree", dependencies: ["LinuxSystem", "Credentials"], swiftSettings: strict),
        // Strict reader of CRIU's image files (protobuf wire format, written here).
        .target(name: "CriuImages", dependencies: ["LinuxSystem", "Credentials"], swiftSettings: strict),
        // Policy and the operations: command line, configuration, images
        // directory, namespaces criu may run in, dump, restore, run, list.
        .target(
            name: "HelperCore",
            dependencies: ["LinuxSystem", "Credentials", "Privilege", "AuditLog", "ProcessTree", "CriuImages"],
            swiftSettings: strict
        ),
        .executableTarget(name: "criu-helper", dependencies: ["HelperCore", "LinuxSystem", "Privilege", "CStartup"],
                         swiftSettings: strict),
        // criu's action script for a restore: the check of what criu restored
        // while criu still holds the tasks. Installed without capabilities;
        // criu runs it with its own.
        .executableTarget(name: "criu-helper-restore-check", dependencies: ["ProcessTree", "LinuxSystem", "Credentials"],
                         swiftSettings: strict),
        // libFuzzer entry point for the image validator (bench/fuzz.sh builds
        // it with -sanitize=fuzzer -DFUZZING; an ordinary build makes the seed
        // packer and replay tool).
        .executableTarget(name: "criu-images-fuzzer", dependencies: ["CriuImages", "Credentials"],
                          path: "Tests/Fuzzing", swiftSettings: strict),

        // Writes protobuf and CRIU image framing: forged images for the tests.
        .target(name: "ImageForging", dependencies: ["CriuImages"], path: "Tests/ImageForging"),
        .testTarget(
            name: "UnitTests",
            dependencies: ["LinuxSystem", "Credentials", "ProcessTree", "CriuImages", "HelperCore", "AuditLog", "ImageForging"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["CriuImages", "ImageForging"],
            swiftSettings: strict
        ),
    ]
)
