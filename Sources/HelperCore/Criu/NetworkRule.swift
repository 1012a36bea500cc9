import CriuImages
import LinuxSystem

/// The network rule for images on this node: the lowest port an unprivileged
/// process may bind (ports below need CAP_NET_BIND_SERVICE).
enum NetworkRule {
    static func policy() -> InetSocketPolicy {
        let start = (try? FileDescriptor.open("/proc/sys/net/ipv4/ip_unprivileged_port_start", .readOnly).readAll(limit: 64))
            .flatMap { UInt32(String(decoding: $0, as: UTF8.self).trimmed()) } ?? 1024
        return InetSocketPolicy(unprivilegedPortStart: start)
    }
}
