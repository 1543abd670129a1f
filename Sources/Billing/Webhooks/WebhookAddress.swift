#if canImport(Glibc)
    import Glibc
#endif

/// Where a webhook may be sent (`webhooks.md`, SSRF): the URL's parts, and the addresses a
/// delivery must never connect to — loopback, private, link-local, multicast, unspecified
/// and reserved ranges, IPv4 and IPv6, an IPv4 address embedded in IPv6 judged as itself.
/// The sender checks the address it actually connects to; registration checks every
/// address the host resolves to then.
public enum WebhookAddress {
    public struct Parsed: Equatable, Sendable {
        public var scheme: String
        public var host: String
        public var port: Int

        public init(scheme: String, host: String, port: Int) {
            self.scheme = scheme
            self.host = host
            self.port = port
        }
    }

    /// `scheme://host[:port][/path][?query]` with scheme `https` or `http`, a host, no
    /// credentials and no fragment; nil otherwise. An IPv6 host is in brackets.
    public static func parse(_ url: String) -> Parsed? {
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else { return nil }
        let scheme = url[..<colon].lowercased()
        guard scheme == "https" || scheme == "http" else { return nil }
        let rest = url[url.index(colon, offsetBy: 3)...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.contains("@"), !url.contains("#"), !url.contains(where: { $0.isWhitespace }) else {
            return nil
        }
        var host = Substring(authority)
        var portText: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty { return nil }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            portText = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        guard !host.isEmpty else { return nil }
        var port = scheme == "https" ? 443 : 80
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else { return nil }
            port = value
        }
        return Parsed(scheme: scheme, host: host.lowercased(), port: port)
    }

    /// Whether a delivery may connect to this address: 4 bytes (IPv4) or 16 (IPv6).
    public static func isAllowed(_ address: [UInt8]) -> Bool {
        switch address.count {
        case 4: return isAllowedIPv4(address)
        case 16: return isAllowedIPv6(address)
        default: return false
        }
    }

    private static func isAllowedIPv4(_ a: [UInt8]) -> Bool {
        let refused =
            a[0] == 0  // "this network", 0.0.0.0
            || a[0] == 10  // private
            || (a[0] == 100 && a[1] & 0xC0 == 64)  // shared (carrier-grade NAT) 100.64/10
            || a[0] == 127  // loopback
            || (a[0] == 169 && a[1] == 254)  // link-local, cloud metadata
            || (a[0] == 172 && a[1] & 0xF0 == 16)  // private 172.16/12
            || (a[0] == 192 && a[1] == 0 && a[2] == 0)  // IETF protocol assignments
            || (a[0] == 192 && a[1] == 168)  // private
            || (a[0] == 198 && a[1] & 0xFE == 18)  // benchmarking 198.18/15
            || a[0] >= 224  // multicast, reserved, broadcast
        return !refused
    }

    private static func isAllowedIPv6(_ a: [UInt8]) -> Bool {
        let zeros = { (range: Range<Int>) in a[range].allSatisfy { $0 == 0 } }
        // IPv4-mapped ::ffff:a.b.c.d
        if zeros(0..<10) && a[10] == 0xFF && a[11] == 0xFF { return isAllowedIPv4(Array(a[12..<16])) }
        if zeros(0..<12) { return false }  // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
        if a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xFF && a[3] == 0x9B && zeros(4..<12) {
            return isAllowedIPv4(Array(a[12..<16]))  // NAT64 64:ff9b::a.b.c.d
        }
        if a[0] == 0x01 && a[1] == 0x00 && zeros(2..<8) { return false }  // discard 100::/64
        if a[0] & 0xFE == 0xFC { return false }  // unique local fc00::/7
        if a[0] == 0xFE && a[1] & 0xC0 == 0x80 { return false }  // link-local fe80::/10
        if a[0] == 0xFE && a[1] & 0xC0 == 0xC0 { return false }  // site-local fec0::/10
        if a[0] == 0xFF { return false }  // multicast
        return true
    }

    /// The addresses `host` resolves to now (an address literal is itself), as bytes.
    public static func resolve(_ host: String) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var addresses: [[UInt8]] = []
        var node = list
        while let info = node?.pointee {
            if let bytes = bytes(of: info.ai_addr) { addresses.append(bytes) }
            node = info.ai_next
        }
        return addresses
    }

    /// The address bytes of a socket address (IPv4 or IPv6), nil for any other family.
    public static func bytes(of address: UnsafePointer<sockaddr>?) -> [UInt8]? {
        guard let address else { return nil }
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                withUnsafeBytes(of: v4.pointee.sin_addr) { Array($0) }
            }
        case AF_INET6:
            return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                withUnsafeBytes(of: v6.pointee.sin6_addr) { Array($0) }
            }
        default:
            return nil
        }
    }
}
