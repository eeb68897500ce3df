//! Which IP addresses the probe may connect to.
//!
//! Everything that is not globally routable unicast is refused: loopback, private
//! (RFC 1918, ULA), link-local (incl. 169.254.169.254 metadata), CGNAT, multicast,
//! documentation, benchmarking and reserved blocks. IPv6 forms that embed an IPv4
//! address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by that address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockReason {
    Loopback,
    Private,
    LinkLocal,
    Cgnat,
    Multicast,
    Unspecified,
    Documentation,
    Reserved,
}

impl std::fmt::Display for BlockReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            BlockReason::Loopback => "loopback",
            BlockReason::Private => "private",
            BlockReason::LinkLocal => "link-local",
            BlockReason::Cgnat => "carrier-grade NAT",
            BlockReason::Multicast => "multicast",
            BlockReason::Unspecified => "unspecified",
            BlockReason::Documentation => "documentation",
            BlockReason::Reserved => "reserved",
        };
        f.write_str(s)
    }
}

/// `Some(reason)` when the probe must not connect to `ip`. Loopback is allowed
/// only with `allow_loopback` (tests).
pub fn blocked(ip: IpAddr, allow_loopback: bool) -> Option<BlockReason> {
    let reason = match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    };
    match reason {
        Some(BlockReason::Loopback) if allow_loopback => None,
        other => other,
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn v4_reason(ip: Ipv4Addr) -> Option<BlockReason> {
    use BlockReason::*;
    const TABLE: &[([u8; 4], u32, BlockReason)] = &[
        ([0, 0, 0, 0], 8, Unspecified),
        ([10, 0, 0, 0], 8, Private),
        ([100, 64, 0, 0], 10, Cgnat),
        ([127, 0, 0, 0], 8, Loopback),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([172, 16, 0, 0], 12, Private),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Documentation),
        ([192, 31, 196, 0], 24, Reserved),
        ([192, 52, 193, 0], 24, Reserved),
        ([192, 88, 99, 0], 24, Reserved),
        ([192, 168, 0, 0], 16, Private),
        ([192, 175, 48, 0], 24, Reserved),
        ([198, 18, 0, 0], 15, Reserved),
        ([198, 51, 100, 0], 24, Documentation),
        ([203, 0, 113, 0], 24, Documentation),
        ([224, 0, 0, 0], 4, Multicast),
        ([240, 0, 0, 0], 4, Reserved),
    ];
    TABLE
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, r)| *r)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    (u128::from(ip) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

fn embedded_v4(ip: Ipv6Addr) -> Ipv4Addr {
    let o = ip.octets();
    Ipv4Addr::new(o[12], o[13], o[14], o[15])
}

fn v6_reason(ip: Ipv6Addr) -> Option<BlockReason> {
    use BlockReason::*;
    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    if ip.is_loopback() {
        return Some(Loopback);
    }
    // ::ffff:a.b.c.d (mapped) and 64:ff9b::a.b.c.d (NAT64): judge the IPv4 address.
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96)
        || in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96)
    {
        return v4_reason(embedded_v4(ip));
    }
    // 2002:V4ADDR::/48 (6to4).
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        let s = ip.segments();
        let v4 = Ipv4Addr::new(
            (s[1] >> 8) as u8,
            (s[1] & 0xff) as u8,
            (s[2] >> 8) as u8,
            (s[2] & 0xff) as u8,
        );
        return v4_reason(v4);
    }
    const TABLE: &[([u16; 8], u32, BlockReason)] = &[
        // ::/96 IPv4-compatible (deprecated) and the rest of ::/8.
        ([0, 0, 0, 0, 0, 0, 0, 0], 8, Reserved),
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, Private),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, Reserved),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, Reserved),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, Documentation),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, Documentation),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, Private),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, LinkLocal),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, Private),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, Multicast),
    ];
    if let Some((_, _, r)) = TABLE.iter().find(|(net, p, _)| in_v6(ip, *net, *p)) {
        return Some(*r);
    }
    // Only 2000::/3 is allocated global unicast.
    if !in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        return Some(Reserved);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, Option<BlockReason>)] = &[
            ("127.0.0.1", Some(BlockReason::Loopback)),
            ("127.8.9.10", Some(BlockReason::Loopback)),
            ("10.1.2.3", Some(BlockReason::Private)),
            ("172.31.255.255", Some(BlockReason::Private)),
            ("172.32.0.1", None),
            ("192.168.1.1", Some(BlockReason::Private)),
            ("169.254.169.254", Some(BlockReason::LinkLocal)),
            ("100.64.0.1", Some(BlockReason::Cgnat)),
            ("100.128.0.1", None),
            ("224.0.0.1", Some(BlockReason::Multicast)),
            ("255.255.255.255", Some(BlockReason::Reserved)),
            ("0.0.0.0", Some(BlockReason::Unspecified)),
            ("198.18.0.1", Some(BlockReason::Reserved)),
            ("203.0.113.9", Some(BlockReason::Documentation)),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("::1", Some(BlockReason::Loopback)),
            ("::", Some(BlockReason::Unspecified)),
            ("::ffff:127.0.0.1", Some(BlockReason::Loopback)),
            ("::ffff:169.254.169.254", Some(BlockReason::LinkLocal)),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some(BlockReason::Reserved)),
            ("64:ff9b::10.0.0.1", Some(BlockReason::Private)),
            ("2002:7f00:1::", Some(BlockReason::Loopback)),
            ("fd00::1", Some(BlockReason::Private)),
            ("fe80::1", Some(BlockReason::LinkLocal)),
            ("ff02::1", Some(BlockReason::Multicast)),
            ("2001:db8::1", Some(BlockReason::Documentation)),
            ("2606:4700:4700::1111", None),
            ("4000::1", Some(BlockReason::Reserved)),
        ];
        for (ip, want) in cases {
            let parsed: IpAddr = ip.parse().expect("test ip");
            assert_eq!(blocked(parsed, false), *want, "{ip}");
        }
    }

    #[test]
    fn loopback_switch_allows_only_loopback() {
        let lo: IpAddr = "127.0.0.5".parse().expect("ip");
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        let private: IpAddr = "10.0.0.1".parse().expect("ip");
        let meta: IpAddr = "169.254.169.254".parse().expect("ip");
        assert_eq!(blocked(lo, true), None);
        assert_eq!(blocked(mapped, true), None);
        assert_eq!(blocked(private, true), Some(BlockReason::Private));
        assert_eq!(blocked(meta, true), Some(BlockReason::LinkLocal));
    }
}
