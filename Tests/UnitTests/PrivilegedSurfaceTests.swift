import Foundation
import Testing

/// The privileged surface is one file: Sources/Privilege/PrivilegedOperations.swift
/// raises every capability criu-helper ever raises (CapabilityState, internal
/// to the Privilege module, is the mechanism), and the C it starts is
/// spawn.c, reaper.c and supervisor.c. Access control keeps other modules
/// out of CapabilityState; this reads the sources to keep it so within the
/// module, and to find any other way of raising a capability anywhere.
@Suite("privileged surface")
struct PrivilegedSurfaceTests {
    static let sources: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources")

    /// Every source file, path relative to Sources/, and its text.
    static func files() -> [(path: String, text: String)] {
        guard let walker = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil) else { return [] }
        var result: [(String, String)] = []
        for case let url as URL in walker where ["swift", "c", "h"].contains(url.pathExtension) {
            let path = String(url.path.dropFirst(sources.path.count + 1))
            if let text = try? String(contentsOf: url, encoding: .utf8) { result.append((path, text)) }
        }
        return result
    }

    /// Where `pattern` occurs outside comments.
    static func users(of pattern: String) -> Set<String> {
        Set(files().filter { file in
            file.text.split(separator: "\n").contains { line in
                let code = line.trimmingCharacters(in: .whitespaces)
                return !code.hasPrefix("//") && !code.hasPrefix("///") && !code.hasPrefix("*") && code.contains(pattern)
            }
        }.map(\.path))
    }

    @Test("the sources are found")
    func sourcesFound() {
        #expect(Self.files().count > 40, "\(Self.sources.path)")
    }

    @Test("only PrivilegedOperations.swift raises a capability through CapabilityState")
    func raisesInOneFile() {
        #expect(Self.users(of: ".with(effective:") == ["Privilege/PrivilegedOperations.swift"])
        #expect(Self.users(of: "CapabilityState.takeControl") == ["Privilege/PrivilegedOperations.swift"])
        #expect(Self.users(of: "ProcessCapabilities.apply(") == ["Privilege/CapabilityState.swift"])
    }

    @Test("no other code can change capability sets: libcap, capset(2) and the ambient set only where listed")
    func noOtherWay() {
        // Setting sets: libcap's cap_set_proc in ProcessCapabilities.apply
        // (called by CapabilityState only, above).
        #expect(Self.users(of: "cap_set_proc(") == ["Privilege/ProcessCapabilities.swift"])
        // capset(2) directly: only to drop everything (zeroed data), in the
        // C between fork and exec.
        #expect(Self.users(of: "SYS_capset") == ["CSystem/spawn.c"])
        // The ambient raise for criu, just before its exec; it works only for
        // what Privileges made inheritable.
        #expect(Self.users(of: "PR_CAP_AMBIENT_RAISE") == ["CSystem/spawn.c"])
        #expect(Self.users(of: "PR_SET_KEEPCAPS").isEmpty && Self.users(of: "PR_SET_SECUREBITS").isEmpty)
    }

    @Test("the acts that need a capability are started from PrivilegedOperations.swift alone")
    func actsInOneFile() {
        #expect(Self.users(of: "DetachedTmpfs.create(") == ["Privilege/PrivilegedOperations.swift"])
        #expect(Self.users(of: "JobReaper.startJob(") == ["Privilege/PrivilegedOperations.swift"])
        #expect(Self.users(of: "JobReaper.startCriu(") == ["Privilege/PrivilegedOperations.swift"])
        #expect(Self.users(of: "CriuSupervisor.start(") == ["Privilege/PrivilegedOperations.swift"])
        #expect(Self.users(of: ".writeAuditRecord(").subtracting(["Privilege/PrivilegedOperations.swift"])
            .isSubset(of: ["HelperCore/Operations/Session.swift", "HelperCore/Installation/Startup.swift",
                           "HelperCore/Installation/InstallationCheck.swift"]))
        // The kernel acts themselves, in C only where the reaper and the supervisor run.
        #expect(Self.users(of: "setns(") == ["CSystem/supervisor.c"])
        #expect(Self.users(of: "mount(\"proc\"") == ["CSystem/reaper.c"])
        #expect(Self.users(of: "CLONE_NEWPID | CLONE_NEWNS") == ["CSystem/reaper.c"])
    }

    @Test("criu's capability set is one constant, cap_checkpoint_restore")
    func criuCapabilities() throws {
        let text = try #require(Self.files().first { $0.path == "Privilege/PrivilegedOperations.swift" }?.text)
        #expect(text.contains("public static let criuCapabilities: CapabilitySet = .checkpointRestore"))
        #expect(Self.users(of: "spec.ambient = ") == ["Privilege/PrivilegedOperations.swift"])
    }
}
