//! The pure policy: which origins a request may go to and which addresses
//! count as public. Nothing here connects; [`Egress::resolve`] only looks
//! names up.

use super::Egress;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use wasmtime_wasi_http::Error;

/// Why a request was refused before any connection was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotAllowed {
        origin: String,
        allowed: Vec<String>,
    },
    Scheme(String),
    NonGlobal {
        host: String,
        addr: IpAddr,
    },
    NoAddress(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotAllowed { origin, allowed } => write!(
                f,
                "egress refused: {origin} is not an origin of this config (allowed: {})",
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ),
            Refusal::Scheme(s) => write!(f, "egress refused: scheme `{s}` (only http and https)"),
            Refusal::NonGlobal { host, addr } => write!(
                f,
                "egress refused: {host} resolves to {addr}, which is not a public address (pass --allow-private to allow loopback and private networks)"
            ),
            Refusal::NoAddress(host) => write!(f, "DNS lookup of {host} found no address"),
        }
    }
}

impl Refusal {
    /// The wasi:http code the component gets for this refusal.
    pub(super) fn code(&self) -> Error {
        match self {
            Refusal::NotAllowed { .. } | Refusal::Scheme(_) => Error::HttpRequestDenied,
            Refusal::NonGlobal { .. } => Error::DestinationIpProhibited,
            Refusal::NoAddress(_) => Error::DnsError {
                rcode: None,
                info_code: None,
            },
        }
    }
}

/// Whether `ip` is a globally routable unicast address. IPv6 is judged by
/// an allow-list (README, "Security model"): only global unicast
/// `2000::/3`, minus its special-purpose ranges, and the forms that carry
/// an IPv4 address, which are judged by that address.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_global_v4(v4);
            }
            let s = v6.segments();
            (s[0] & 0xe000) == 0x2000 // global unicast, 2000::/3
                && !(s[0] == 0x2001 && s[1] < 0x0200) // 2001::/23: IETF protocol assignments, Teredo
                && !(s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32: documentation
                && !(s[0] == 0x3fff && s[1] < 0x1000) // 3fff::/20: documentation
        }
    }
}

/// The IPv4 address inside an IPv6 address that reaches the IPv4 network:
/// IPv4-mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96` and the local-use
/// `64:ff9b:1::/48` (address in the last 32 bits), and 6to4 `2002::/16`.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let o = v6.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    let mapped = s[..6] == [0, 0, 0, 0, 0, 0xffff];
    let nat64 = s[..6] == [0x0064, 0xff9b, 0, 0, 0, 0];
    let local_nat64 = s[..3] == [0x0064, 0xff9b, 0x0001];
    if mapped || nat64 || local_nat64 {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])); // 6to4
    }
    None
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", 0.0.0.0/8
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 224) // multicast, reserved, broadcast
}

impl Egress {
    /// The origin of `uri` if the policy lets requests go there.
    pub fn check_origin(&self, uri: &http::Uri) -> Result<(String, String, u16, bool), Refusal> {
        let scheme = uri.scheme_str().unwrap_or("");
        let tls = match scheme {
            "https" => true,
            "http" => false,
            other => return Err(Refusal::Scheme(other.to_string())),
        };
        let host = uri.host().unwrap_or("").to_string();
        // Normalise the way the component's URL parser does (lower case,
        // numeric IPv4 spellings, default ports), then compare.
        let parsed = url::Url::parse(&format!(
            "{scheme}://{}/",
            uri.authority().map(|a| a.as_str()).unwrap_or("")
        ))
        .map_err(|_| Refusal::NotAllowed {
            origin: uri.to_string(),
            allowed: self.allowed.clone(),
        })?;
        let origin = parsed.origin().ascii_serialization();
        if !self.allowed.contains(&origin) {
            return Err(Refusal::NotAllowed {
                origin,
                allowed: self.allowed.clone(),
            });
        }
        let port = parsed
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        let host = match parsed.host() {
            Some(url::Host::Ipv6(v6)) => v6.to_string(),
            Some(h) => h.to_string(),
            None => host,
        };
        Ok((origin, host, port, tls))
    }

    /// Resolves `host` and keeps the addresses the policy allows; refuses
    /// when any address is not public (a name that mixes public and private
    /// addresses is refused whole).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
        if let Some(pin) = self
            .pinned
            .iter()
            .find(|p| p.host == host && p.port == port)
        {
            return Ok(vec![SocketAddr::new(pin.addr, port)]);
        }
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| Refusal::NoAddress(host.to_string()))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(Refusal::NoAddress(host.to_string()));
        }
        if !self.allow_private
            && let Some(bad) = addrs.iter().find(|a| !is_global(a.ip()))
        {
            return Err(Refusal::NonGlobal {
                host: host.to_string(),
                addr: bad.ip(),
            });
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::for_tests as egress;

    #[test]
    fn only_public_addresses_are_global() {
        for private in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "198.18.0.1",
            "192.0.0.8",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "::127.0.0.1",
        ] {
            assert!(!is_global(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_global(public.parse().unwrap()), "{public}");
        }
    }

    /// Each IPv6 range of the allow-list, with an address on both sides
    /// of each of its boundaries.
    #[test]
    fn ipv6_is_judged_by_an_allow_list() {
        let cases = [
            // 2000::/3, global unicast
            ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2000::1", true),
            ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("4000::1", false),
            ("2606:4700::1111", true),
            // 2001::/23, IETF protocol assignments (Teredo is 2001::/32)
            ("2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("2001::1", false),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", false),
            ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:200::1", true),
            // 2001:db8::/32, documentation
            ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("2001:db8::1", false),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:db9::", true),
            // 3fff::/20, documentation
            ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("3fff::", false),
            ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("3fff:1000::", true),
            // 2002::/16, 6to4: by the embedded IPv4 address
            ("2002:808:808::1", true),
            ("2002:7f00:1::", false),
            ("2002:a00:1::", false),
            ("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("2003::1", true),
            // ::ffff:0:0/96, IPv4-mapped: by the IPv4 address
            ("::ffff:8.8.8.8", true),
            ("::ffff:127.0.0.1", false),
            ("::fffe:808:808", false),
            ("::1:ffff:808:808", false),
            // 64:ff9b::/96, NAT64: by the IPv4 address
            ("64:ff9b::808:808", true),
            ("64:ff9b::7f00:1", false),
            ("64:ff9b::a9fe:a9fe", false),
            ("64:ff9a:ffff:ffff:ffff:ffff:808:808", false),
            ("64:ff9b::1:808:808", false),
            ("64:ff9b:0:1::808:808", false),
            // 64:ff9b:1::/48, local-use NAT64: by the last 32 bits
            ("64:ff9b:1::808:808", true),
            ("64:ff9b:1:ffff:ffff:ffff:808:808", true),
            ("64:ff9b:1::7f00:1", false),
            ("64:ff9b:1:ffff:ffff:ffff:a00:1", false),
            ("64:ff9b:2::808:808", false),
            // the rest of ::/8: IPv4-compatible, unspecified, loopback
            ("::", false),
            ("::1", false),
            ("::8.8.8.8", false),
            ("::127.0.0.1", false),
            ("ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            // everything else outside 2000::/3
            ("100::1", false),
            ("fc00::1", false),
            ("fe80::1", false),
            ("fec0::1", false),
            ("ff0e::1", false),
        ];
        for (addr, global) in cases {
            assert_eq!(is_global(addr.parse().unwrap()), global, "{addr}");
        }
    }

    #[test]
    fn origins_are_compared_normalised() {
        let e = egress(&["https://api.example.com", "http://127.0.0.1:8080"]);
        let ok = |u: &str| e.check_origin(&u.parse().unwrap()).map(|(o, ..)| o);
        assert_eq!(
            ok("https://API.example.com:443/x").unwrap(),
            "https://api.example.com"
        );
        assert_eq!(
            ok("http://2130706433:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(ok("http://0x7f.1:8080/").unwrap(), "http://127.0.0.1:8080");
        assert!(matches!(
            ok("http://api.example.com/"),
            Err(Refusal::NotAllowed { .. })
        ));
        assert!(matches!(
            ok("https://api.example.com:8443/"),
            Err(Refusal::NotAllowed { .. })
        ));
        assert!(matches!(
            ok("ftp://api.example.com/"),
            Err(Refusal::Scheme(_))
        ));
    }

    #[tokio::test]
    async fn private_addresses_are_refused_after_resolution() {
        let e = egress(&[]);
        for host in ["127.0.0.1", "localhost", "::1"] {
            assert!(
                matches!(e.resolve(host, 80).await, Err(Refusal::NonGlobal { .. })),
                "{host}"
            );
        }
        let open = Egress {
            allow_private: true,
            ..e
        };
        assert!(open.resolve("127.0.0.1", 80).await.is_ok());
    }
}
