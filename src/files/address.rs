//! Where external files may come from: public addresses only. A link in a page is written
//! by anyone who can edit it, so fetching it must not reach the machine's own services or
//! its network (SSRF).
//!
//! Invariant: an external download connects only to addresses [`is_public`] accepts — a
//! literal address in the URL (or in a redirect) is checked before the request, and names
//! resolve through [`PublicResolver`], which drops every other address (so a name cannot
//! point at 127.0.0.1, and DNS rebinding cannot swap the address after the check: the
//! checked address is the one connected to).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is a public unicast address (not loopback, private, link-local, shared,
/// multicast, documentation, benchmarking, reserved or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public_v4(v4);
            }
            public_v6(v6)
        }
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b))) // benchmarking
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64: the IPv4 inside decides, refuse
        || ip.to_ipv4().is_some_and(|v4| !public_v4(v4)))
}

/// Why an external URL is refused before any connection.
pub fn refusal(url: &reqwest::Url) -> Option<String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Some(format!(
            "refused: scheme {} (only http and https)",
            url.scheme()
        ));
    }
    let Some(host) = url.host_str() else {
        return Some("refused: no host".into());
    };
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    match literal.parse::<IpAddr>() {
        Ok(ip) if !is_public(ip) => Some(format!("refused: {ip} is not a public address")),
        _ => None,
    }
}

/// The system resolver, keeping public addresses only (none left: an error).
#[derive(Debug, Default, Clone, Copy)]
pub struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = format!(
                    "refused: {host} resolves to no public address ({} found)",
                    found.len()
                )
                .into();
                return Err(err);
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_pass() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad} must be refused");
        }
        for good in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(good.parse().unwrap()), "{good} is public");
        }
    }

    #[test]
    fn literal_addresses_and_odd_schemes_are_refused_before_connecting() {
        let refused = |u: &str| refusal(&reqwest::Url::parse(u).unwrap());
        assert!(refused("http://127.0.0.1:8080/x").is_some());
        assert!(refused("http://[::1]/x").is_some());
        assert!(refused("http://169.254.169.254/latest/meta-data").is_some());
        assert!(refused("file:///etc/passwd").is_some());
        assert!(refused("https://example.com/a.png").is_none());
        assert!(refused("https://1.1.1.1/a.png").is_none());
    }

    #[tokio::test]
    async fn names_of_local_addresses_resolve_to_nothing() {
        let name: Name = "localhost".parse().unwrap();
        let err = PublicResolver.resolve(name).await.err().unwrap();
        assert!(err.to_string().contains("no public address"), "{err}");
    }
}
