/// Which network sockets an image may hold: only what the kernel lets the
/// caller make anyway, with no privilege — TCP sockets listening or not yet
/// connected, UDP sockets — on ports the caller may bind, without options
/// that need a capability. Any address: IP_FREEBIND and IPV6_FREEBIND need
/// none, so anyone may bind an address the node does not have (criu binds
/// with them at restore, zdtm's sk-freebind-false), and such a socket only
/// receives what is routed to the node anyway. criu restores
/// them with cap_checkpoint_restore alone (never cap_sys_admin or
/// cap_net_*), so the kernel would refuse the rest too; refusing it here
/// says why, before anything is done.
public struct InetSocketPolicy: Sendable {
    /// /proc/sys/net/ipv4/ip_unprivileged_port_start: lower ports need
    /// CAP_NET_BIND_SERVICE.
    public var unprivilegedPortStart: UInt32

    public init(unprivilegedPortStart: UInt32) {
        self.unprivilegedPortStart = unprivilegedPortStart
    }

    /// Refuses every inet socket (criu 4.1.1 cannot dump one on Linux >= 6.16).
    public static let none: InetSocketPolicy? = nil

    static let inet: UInt32 = 2, inet6: UInt32 = 10
    static let stream: UInt32 = 1, datagram: UInt32 = 2
    static let tcp: UInt32 = 6, udp: UInt32 = 17, udpLite: UInt32 = 136
    static let established: UInt32 = 1, close: UInt32 = 7, listen: UInt32 = 10

    /// inet_sk_entry (images/sk-inet.proto).
    func check(_ sk: ProtobufMessage, id: UInt32, rootNetNamespace: UInt32?) throws(ImageError) {
        func refuse(_ why: String) -> ImageError { .forbidden(file: "", "socket \(id) is \(why), which criu-helper does not restore") }
        try sk.requireOnly(Set(1...20), in: "inet_sk_entry")
        let family = try sk.requiredUInt32(3, "family")
        let type = try sk.requiredUInt32(4, "type")
        let proto = try sk.requiredUInt32(5, "proto")
        let state = try sk.requiredUInt32(6, "state")
        let port = try sk.requiredUInt32(7, "src_port")
        guard family == Self.inet || family == Self.inet6 else { throw refuse("of address family \(family)") }
        switch (type, proto) {
        case (Self.stream, 0), (Self.stream, Self.tcp):
            if state == Self.established {
                throw refuse("an established TCP connection (restoring one needs TCP repair, cap_net_admin)")
            }
            guard state == Self.listen || state == Self.close else { throw refuse("a TCP socket in state \(state)") }
        case (Self.datagram, 0), (Self.datagram, Self.udp), (Self.datagram, Self.udpLite):
            guard state == Self.close || state == Self.established else { throw refuse("a UDP socket in state \(state)") }
        default:
            throw refuse("a raw or other socket (type \(type), protocol \(proto))")
        }
        if port != 0 && port < unprivilegedPortStart {
            throw refuse("bound to port \(port), below ip_unprivileged_port_start (\(unprivilegedPortStart))")
        }
        let address = try sk.repeatedUInt32(11, "src_addr")
        guard address.count == (family == Self.inet ? 1 : 4) || address.isEmpty else { throw .malformed(file: "", "socket \(id) address") }
        let ip = try sk.message(16, "ip_opts")
        if let opts = try sk.message(14, "opts") {
            if let priority = try opts.uint32(8, "so_priority"), priority > 6 { throw refuse("of priority \(priority) (above 6 needs cap_net_admin)") }
            if let mark = try opts.uint32(10, "so_mark"), mark != 0 { throw refuse("marked (SO_MARK needs cap_net_admin)") }
            if let device = try opts.string(15, "so_bound_dev"), !device.isEmpty { throw refuse("bound to device \(device) (SO_BINDTODEVICE)") }
        }
        if let ip, ip.has(4) { throw refuse("a raw socket") }
        if let ns = try sk.uint32(18, "ns_id"), let root = rootNetNamespace, ns != root {
            throw refuse("in another network namespace")
        }
    }
}
