//! Where the load goes: loopback `http://` URLs only, and the source addresses the
//! connections are spread over.

use std::net::{Ipv4Addr, SocketAddr};

use super::LoadError;

/// Connections per source address before the next one is used: the kernel's ephemeral port
/// range (`32768-60999` by default) gives about 28 000 ports per address, less what others use.
pub const PER_SOURCE: usize = 25_000;

/// A parsed `http://127.x.y.z:PORT/path` (or `ws://`) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopbackUrl {
    /// The server's address.
    pub addr: SocketAddr,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl LoopbackUrl {
    /// Parses a URL, refusing anything but plain HTTP to a loopback address (the load
    /// generator is never pointed at another machine).
    pub fn parse(url: &str) -> Result<Self, LoadError> {
        let bad = |why: &str| LoadError::Url {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        // `ws://` names the same HTTP/1.1 connection a WebSocket upgrades.
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("ws://"))
            .ok_or_else(|| bad("only http:// (or ws://) URLs are supported"))?;
        let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
        let authority = authority.replacen("localhost", "127.0.0.1", 1);
        let addr: SocketAddr = authority
            .parse()
            .map_err(|_| bad("expected a numeric loopback host and a port, e.g. 127.0.0.1:8080"))?;
        if !addr.ip().is_loopback() {
            return Err(bad(
                "the load generator only targets loopback (127.0.0.0/8 or ::1)",
            ));
        }
        Ok(LoopbackUrl {
            addr,
            path: path.to_owned(),
        })
    }

    /// The `Host` header value.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

/// The source address of each connection: the given list in turn, `PER_SOURCE` connections
/// each, or, when no list is given, 127.0.0.1, 127.0.0.2, … as many as `connections` needs.
/// `None` for an IPv6 target: the kernel picks the source.
pub fn sources(
    given: &[Ipv4Addr],
    target: SocketAddr,
    connections: usize,
) -> Vec<Option<Ipv4Addr>> {
    if target.is_ipv6() {
        return Vec::new();
    }
    let needed = connections.div_ceil(PER_SOURCE).max(1);
    let list: Vec<Ipv4Addr> = if given.is_empty() {
        (1..=needed)
            .map(|i| Ipv4Addr::new(127, 0, 0, u8::try_from(i).unwrap_or(u8::MAX)))
            .collect()
    } else {
        given.to_vec()
    };
    list.into_iter().map(Some).collect()
}

/// The source for connection `index`: fills each address up to `PER_SOURCE`, then wraps
/// round-robin if the list is too short for the count.
pub fn source_for(list: &[Option<Ipv4Addr>], index: usize) -> Option<Ipv4Addr> {
    if list.is_empty() {
        return None;
    }
    let per = PER_SOURCE.max(1);
    list[(index / per) % list.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_loopback_http_only() {
        let u = LoopbackUrl::parse("http://127.0.0.1:8080/stream?topic=a").unwrap();
        assert_eq!(u.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(u.path, "/stream?topic=a");
        assert_eq!(LoopbackUrl::parse("http://localhost:9").unwrap().path, "/");
        assert_eq!(
            LoopbackUrl::parse("ws://127.0.0.1:9/ws").unwrap().path,
            "/ws"
        );
        assert!(LoopbackUrl::parse("https://127.0.0.1:1/").is_err());
        assert!(LoopbackUrl::parse("wss://127.0.0.1:1/").is_err());
        assert!(LoopbackUrl::parse("http://10.0.0.1:80/").is_err());
        assert!(LoopbackUrl::parse("http://example.com:80/").is_err());
    }

    #[test]
    fn sources_spread_past_the_port_range() {
        let target = "127.0.0.1:80".parse().unwrap();
        let list = sources(&[], target, 60_000);
        assert_eq!(list.len(), 3);
        assert_eq!(source_for(&list, 0), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(
            source_for(&list, PER_SOURCE),
            Some(Ipv4Addr::new(127, 0, 0, 2))
        );
        assert_eq!(source_for(&list, 59_999), Some(Ipv4Addr::new(127, 0, 0, 3)));
        let one = sources(&[Ipv4Addr::new(127, 0, 0, 9)], target, 60_000);
        assert_eq!(source_for(&one, 59_999), Some(Ipv4Addr::new(127, 0, 0, 9)));
    }
}
