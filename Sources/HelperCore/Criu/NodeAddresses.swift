import CriuImages
import LinuxSystem

/// The network rule for images: the node's own addresses (read once, when a
/// socket asks) and the lowest port an unprivileged process may bind.
enum NodeAddresses {
    static func policy() -> InetSocketPolicy {
        let start = (try? FileDescriptor.open("/proc/sys/net/ipv4/ip_unprivileged_port_start", .readOnly).readAll(limit: 64))
            .flatMap { UInt32(String(decoding: $0, as: UTF8.self).trimmed()) } ?? 1024
        return InetSocketPolicy(unprivilegedPortStart: start) { family, words in
            family == 2 ? isLocalIPv4(words[0], routes: ipv4()) : ipv6().contains(words)
        }
    }

    static func read(_ path: String) -> String {
        (try? FileDescriptor.open(path, .readOnly).readAll(limit: 4 << 20)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// An IPv4 prefix the kernel routes as LOCAL: its own addresses (/32),
    /// and whole local ranges such as 127.0.0.0/8. The address in host
    /// order (first octet highest).
    struct LocalRoute: Hashable {
        var network: UInt32
        var bits: Int
    }

    /// criu's word (s_addr as it lies in memory, read as a little-endian
    /// integer) within one of `routes`.
    static func isLocalIPv4(_ word: UInt32, routes: [LocalRoute]) -> Bool {
        let address = (word & 0xFF) << 24 | (word >> 8 & 0xFF) << 16 | (word >> 16 & 0xFF) << 8 | word >> 24
        return routes.contains { route in
            let mask: UInt32 = route.bits == 0 ? 0 : ~UInt32(0) << (32 - route.bits)
            return address & mask == route.network & mask
        }
    }

    /// The LOCAL routes of /proc/net/fib_trie: a line "|-- A.B.C.D"
    /// followed by "/N host LOCAL".
    static func ipv4() -> [LocalRoute] {
        var result: Set<LocalRoute> = []
        var last: UInt32? = nil
        for line in read("/proc/net/fib_trie").split(separator: "\n") {
            let text = line.trimmingCharacters()
            if text.hasPrefix("|-- ") {
                let parts = text.dropFirst(4).split(separator: ".").compactMap { UInt32($0) }
                last = parts.count == 4 && parts.allSatisfy({ $0 < 256 })
                    ? parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3] : nil
            } else if text.hasPrefix("/"), text.hasSuffix(" host LOCAL"), let address = last,
                      let bits = Int(text.dropFirst().prefix { $0.isNumber }), (0...32).contains(bits) {
                result.insert(LocalRoute(network: address, bits: bits))
            }
        }
        return Array(result)
    }

    /// IPv6 addresses of /proc/net/if_inet6 (32 hexadecimal digits first),
    /// as criu's four words.
    static func ipv6() -> Set<[UInt32]> {
        var result: Set<[UInt32]> = []
        for line in read("/proc/net/if_inet6").split(separator: "\n") {
            guard let hex = line.split(separator: " ").first, hex.count == 32 else { continue }
            let bytes = stride(from: 0, to: 32, by: 2).compactMap { i -> UInt32? in
                let start = hex.index(hex.startIndex, offsetBy: i)
                return UInt32(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)
            }
            guard bytes.count == 16 else { continue }
            result.insert((0..<4).map { w in bytes[4 * w] | bytes[4 * w + 1] << 8 | bytes[4 * w + 2] << 16 | bytes[4 * w + 3] << 24 })
        }
        return result
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
