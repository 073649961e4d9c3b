//! The SSRF guard: job targets on loopback, private and other internal addresses are
//! refused unless ALLOW_PRIVATE_TARGETS is set.
//!
//! The check runs on the address actually connected to: names are resolved by
//! [`GuardedResolver`], which drops forbidden addresses, so a name that resolves to a
//! public address at validation and a private one at run time (DNS rebinding) is still
//! refused. Literal IP URLs never reach a resolver and are checked by [`check_url`], on
//! the first request and on every redirect.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether connecting to `ip` is refused by default.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || ip.to_ipv4_mapped().is_some() // ::ffff:a.b.c.d
        || (segments[0] == 0x64 && segments[1] == 0xff9b) // NAT64 64:ff9b::/96 embeds IPv4
        || segments[0] == 0x2002 // 6to4 embeds IPv4
        || (segments[0] == 0x2001 && segments[1] == 0) // Teredo
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || ip.segments()[..6] == [0; 6] // IPv4-compatible ::a.b.c.d
}

/// The ports a job may call: 80, 443 and the unprivileged ones, minus the well-known
/// ports of datastores and control planes that listen without authentication on private
/// networks (PostgreSQL, Redis, Elasticsearch, memcached, MongoDB, Docker, etcd, ...).
pub const DEFAULT_TARGET_PORTS: &str = "80,443,1024-65535,!2375,!2376,!2379,!2380,!3306,!5432,!5672,!5984,!6379,!7000,!7001,!8086,!9042,!9200,!9300,!11211,!15672,!27017,!27018,!27019";

/// Which ports job targets may use: ports and ranges, minus `!port` exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPolicy {
    allowed: Vec<std::ops::RangeInclusive<u16>>,
    denied: Vec<u16>,
}

impl Default for PortPolicy {
    fn default() -> Self {
        DEFAULT_TARGET_PORTS
            .parse()
            .expect("the default port policy parses")
    }
}

impl std::str::FromStr for PortPolicy {
    type Err = String;

    /// `80,443,1024-65535,!5432`: ports, inclusive ranges, and `!port` exceptions.
    fn from_str(raw: &str) -> Result<Self, String> {
        let mut policy = PortPolicy {
            allowed: Vec::new(),
            denied: Vec::new(),
        };
        let port = |s: &str| {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("`{s}` is not a port (1-65535)"))
        };
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some(denied) = item.strip_prefix('!') {
                policy.denied.push(port(denied)?);
            } else if let Some((low, high)) = item.split_once('-') {
                let (low, high) = (port(low)?, port(high)?);
                if low > high {
                    return Err(format!("`{item}` is an empty range"));
                }
                policy.allowed.push(low..=high);
            } else {
                let p = port(item)?;
                policy.allowed.push(p..=p);
            }
        }
        if policy.allowed.is_empty() {
            return Err("allows no port: list ports or ranges, e.g. 80,443,1024-65535".into());
        }
        Ok(policy)
    }
}

impl PortPolicy {
    /// Whether a target may use `port`.
    pub fn allows(&self, port: u16) -> bool {
        !self.denied.contains(&port) && self.allowed.iter().any(|r| r.contains(&port))
    }
}

/// What job targets may be: internal addresses or not, and which ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Let jobs call loopback and private addresses (development and tests).
    pub allow_private: bool,
    pub ports: PortPolicy,
}

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("port {0} is not allowed for targets (ALLOWED_TARGET_PORTS)")]
    Port(u16),
    #[error("only http and https URLs can be called")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error(
        "{0} is a private, loopback or otherwise internal address: such targets are not allowed"
    )]
    Forbidden(IpAddr),
}

/// Checks a URL's scheme and port, and its host when the host is a literal IP address.
pub fn check_url(url: &Url, policy: &TargetPolicy) -> Result<(), TargetError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::Scheme);
    }
    if let Some(port) = url.port_or_known_default()
        && !policy.ports.allows(port)
    {
        return Err(TargetError::Port(port));
    }
    let allow_private = policy.allow_private;
    let ip = match url.host() {
        None => return Err(TargetError::NoHost),
        Some(url::Host::Domain(_)) => return Ok(()),
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
    };
    if !allow_private && is_forbidden(ip) {
        return Err(TargetError::Forbidden(ip));
    }
    Ok(())
}

/// A DNS resolver that keeps only allowed addresses, so the connection can only go to
/// an address that passed the guard.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> {
                    format!("could not resolve {host}: {e}").into()
                })?
                .collect();
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|addr| allow_private || !is_forbidden(addr.ip()))
                .collect();
            if allowed.is_empty() {
                let first = resolved
                    .first()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default();
                return Err(format!(
                    "{host} resolves to {first}, a private, loopback or otherwise internal address: such targets are not allowed"
                )
                .into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::a00:1",
            "2002:a00:1::",
        ] {
            assert!(
                is_forbidden(ip.parse().unwrap()),
                "{ip} should be forbidden"
            );
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
        ] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip} should be allowed");
        }
    }

    #[test]
    fn urls_with_literal_internal_hosts_are_refused() {
        let check = |u: &str, allow_private| {
            let policy = TargetPolicy {
                allow_private,
                ..TargetPolicy::default()
            };
            check_url(&Url::parse(u).unwrap(), &policy)
        };
        assert_eq!(
            check("http://127.0.0.1:8080/x", false),
            Err(TargetError::Forbidden("127.0.0.1".parse().unwrap()))
        );
        assert!(matches!(
            check("http://[::1]/", false),
            Err(TargetError::Forbidden(_))
        ));
        assert!(matches!(
            check("http://[::ffff:10.0.0.1]/", false),
            Err(TargetError::Forbidden(_))
        ));
        assert_eq!(check("ftp://example.com/", false), Err(TargetError::Scheme));
        assert_eq!(check("http://127.0.0.1/", true), Ok(()));
        assert_eq!(check("https://example.com/", false), Ok(()));
    }

    #[test]
    fn target_ports_follow_the_policy() {
        let default = TargetPolicy::default();
        let check = |u: &str, policy: &TargetPolicy| check_url(&Url::parse(u).unwrap(), policy);
        for allowed in [
            "https://example.com/",
            "http://example.com/",
            "http://example.com:8080/",
        ] {
            assert_eq!(check(allowed, &default), Ok(()), "{allowed}");
        }
        for (url, port) in [
            ("http://example.com:6379/", 6379),
            ("http://example.com:5432/", 5432),
            ("http://example.com:22/", 22),
            ("https://example.com:25/", 25),
            ("http://example.com:11211/", 11211),
        ] {
            assert_eq!(check(url, &default), Err(TargetError::Port(port)), "{url}");
        }
        let narrow = TargetPolicy {
            allow_private: false,
            ports: "443".parse().unwrap(),
        };
        assert_eq!(
            check("http://example.com/", &narrow),
            Err(TargetError::Port(80))
        );
        assert!("".parse::<PortPolicy>().is_err());
        assert!("80,x".parse::<PortPolicy>().is_err());
        assert!("90-80".parse::<PortPolicy>().is_err());
        assert!("!80".parse::<PortPolicy>().is_err());
        assert!("0".parse::<PortPolicy>().is_err());
    }

    #[tokio::test]
    async fn the_resolver_drops_internal_answers() {
        let guarded = GuardedResolver {
            allow_private: false,
        };
        let error = guarded
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("refused");
        assert!(error.to_string().contains("not allowed"), "{error}");
        let open = GuardedResolver {
            allow_private: true,
        };
        let addrs: Vec<_> = open
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    }
}
