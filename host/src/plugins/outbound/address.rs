//! Which addresses a plugin may connect to. After name resolution, every address of the
//! private network is refused (loopback, RFC 1918, unique local, link-local with the cloud
//! metadata address, carrier-grade NAT, multicast, unspecified, reserved, and the IPv6 forms
//! that embed one of these) unless the server was started with `--outbound-allow CIDR`.
//! Checked on the address actually connected to, so a name that resolves differently the
//! second time (DNS rebinding) gains nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The private range `ip` is in, named for the refusal; `None` for a public address.
pub fn private_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => private_v6(v6),
    }
}

fn private_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(match (a, b) {
        (0, _) => "an unspecified (this-network) address",
        (127, _) => "a loopback address",
        (10, _) | (192, 168) => "a private (RFC 1918) address",
        (172, 16..=31) => "a private (RFC 1918) address",
        (169, 254) => "a link-local address (the cloud metadata service lives there)",
        (100, 64..=127) => "a carrier-grade NAT address",
        (192, 0) if ip.octets()[2] == 0 => "an IETF protocol assignment address",
        (198, 18..=19) => "a benchmarking address",
        (224..=239, _) => "a multicast address",
        (240..=255, _) => "a reserved or broadcast address",
        _ => return None,
    })
}

fn private_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // Forms that carry an IPv4 address are judged by it: mapped (::ffff:a.b.c.d),
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return private_v4(v4);
    }
    let s = ip.segments();
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return private_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
    }
    if s[0] == 0x2002 {
        return private_v4(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    Some(match s[0] {
        _ if ip.is_unspecified() => "an unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        0xfc00..=0xfdff => "a unique local (private) address",
        0xfe80..=0xfebf => "a link-local address",
        0xfec0..=0xfeff => "a site-local (private) address",
        0xff00..=0xffff => "a multicast address",
        // ::/96 (IPv4-compatible, deprecated) and the rest of ::/8: never a public host.
        0x0000 => "a reserved address",
        _ => return None,
    })
}

/// An address range, `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parse `address/prefix` (a bare address is `/32` or `/128`).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr =
            address.trim().parse().map_err(|_| format!("`{text}` is not an address range like 10.0.0.0/8"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= bits),
            None => Some(bits),
        }
        .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {bits}"))?;
        Ok(Cidr { network, prefix })
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 form).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(u128::from(u32::from(net)) << 96, u128::from(u32::from(ip)) << 96, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => same_prefix(u128::from(net), u128::from(ip), self.prefix),
            _ => false,
        }
    }
}

fn same_prefix(a: u128, b: u128, prefix: u8) -> bool {
    prefix == 0 || (a ^ b) >> (128 - u32::from(prefix)) == 0
}

/// The addresses plugins may connect to: every public address, and the private ranges an
/// admin opened with `--outbound-allow`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    opened: Vec<Cidr>,
}

impl AddressPolicy {
    /// Public addresses, plus these private ranges.
    pub fn opening(opened: Vec<Cidr>) -> AddressPolicy {
        AddressPolicy { opened }
    }

    /// `Err` says why `ip` may not be connected to.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        match private_range(ip) {
            Some(range) if !self.opened.iter().any(|cidr| cidr.contains(ip)) => {
                Err(format!("{ip} is {range}; plugins reach it only if the server is started with --outbound-allow"))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// Classified, never connected to: these tests only look at addresses.
    #[test]
    fn private_ranges_are_named_and_public_addresses_pass() {
        for (address, range) in [
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("10.1.2.3", "RFC 1918"),
            ("172.16.0.1", "RFC 1918"),
            ("172.31.255.255", "RFC 1918"),
            ("192.168.1.1", "RFC 1918"),
            ("169.254.169.254", "metadata"),
            ("100.64.0.1", "carrier-grade"),
            ("100.127.255.255", "carrier-grade"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd12:3456::1", "unique local"),
            ("fc00::1", "unique local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "metadata"),
            ("::ffff:10.0.0.1", "RFC 1918"),
            ("64:ff9b::a9fe:a9fe", "metadata"),
            ("2002:c0a8:0101::1", "RFC 1918"),
            ("::127.0.0.1", "reserved"),
        ] {
            let named = private_range(ip(address)).unwrap_or_else(|| panic!("{address} passed as public"));
            assert!(named.contains(range), "{address}: {named}");
        }
        for public in [
            "93.184.215.14",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "2002:5db8:d70e::1",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(private_range(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn an_opened_range_lets_its_addresses_through_and_no_others() {
        let policy = AddressPolicy::opening(vec![Cidr::parse("127.0.0.1/32").unwrap()]);
        assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:127.0.0.1")), Ok(()), "the mapped form of an opened address");
        assert!(policy.check(ip("127.0.0.2")).unwrap_err().contains("--outbound-allow"));
        assert!(policy.check(ip("::1")).is_err());
        assert!(AddressPolicy::default().check(ip("127.0.0.1")).unwrap_err().contains("loopback"));
        assert_eq!(AddressPolicy::default().check(ip("8.8.8.8")), Ok(()));
        let wide = AddressPolicy::opening(vec![Cidr::parse("10.0.0.0/8").unwrap(), Cidr::parse("fd00::/8").unwrap()]);
        assert_eq!(wide.check(ip("10.200.0.9")), Ok(()));
        assert_eq!(wide.check(ip("fd99::1")), Ok(()));
        assert!(wide.check(ip("192.168.0.1")).is_err());
    }

    #[test]
    fn ranges_parse_or_say_why_not() {
        assert_eq!(Cidr::parse("::1").unwrap(), Cidr::parse("::1/128").unwrap());
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("203.0.113.9")));
        assert!(Cidr::parse("10.0.0.0/33").unwrap_err().contains("0 to 32"));
        assert!(Cidr::parse("localhost/8").unwrap_err().contains("not an address range"));
    }
}
