//! Forward proxies for `ssekit check`: `--proxy URL`, or the usual environment variables
//! (`http_proxy`/`HTTP_PROXY` for `http://` targets, `https_proxy`/`HTTPS_PROXY` for
//! `https://`, `ALL_PROXY`/`all_proxy` for both, `NO_PROXY`/`no_proxy` for exceptions).
//!
//! Only `http://` proxies (HTTP/1.1 forward proxies, e.g. squid): an `http://` target is asked
//! for in absolute-form (`GET http://host/path HTTP/1.1`) on the proxy's connection; an
//! `https://` target goes through a `CONNECT host:port` tunnel with TLS inside, so ALPN h2
//! still works. h2c (HTTP/2 prior knowledge over cleartext) cannot go through such a proxy:
//! those requests fail with [`ProxyError::H2cThroughProxy`], which the checks report as SKIP.
//!
//! The setting is process-wide, like `--ca-cert` (see [`crate::tls`]): every connection the
//! runner opens goes through [`crate::probe::open`], which asks [`route`] the way.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use http::Uri;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most a proxy's answer to CONNECT may take before the tunnel opens.
const MAX_CONNECT_REPLY: usize = 16 * 1024;
/// The port of a proxy URL without one (curl's default).
const DEFAULT_PROXY_PORT: u16 = 1080;

/// Why a proxy setting cannot be used, or a proxy would not carry a request.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The proxy URL does not parse or is not `http://`.
    #[error(
        "proxy URL `{url}` (from {from}): {reason}; give an HTTP forward proxy as http://host:port"
    )]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Where it came from: `--proxy` or the variable's name.
        from: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Connecting to the proxy failed.
    #[error("cannot connect to the proxy {addr}: {source}; is the proxy running, and is --proxy (or HTTP_PROXY / HTTPS_PROXY) right? --no-proxy ignores the environment")]
    Unreachable {
        /// The proxy's host:port.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The proxy answered CONNECT with something other than 2xx.
    #[error("the proxy {proxy} refused `CONNECT {target}`: it answered {status}; allow CONNECT to that port in the proxy (squid: the SSL_ports ACL), or bypass it for this host with NO_PROXY or --no-proxy")]
    ConnectRefused {
        /// The proxy's host:port.
        proxy: String,
        /// host:port asked for.
        target: String,
        /// The status line's code and reason.
        status: String,
    },
    /// The proxy's answer to CONNECT was not HTTP.
    #[error("the proxy {proxy} did not answer `CONNECT {target}` with an HTTP response ({reason}); is it an HTTP forward proxy?")]
    BadConnectReply {
        /// The proxy's host:port.
        proxy: String,
        /// host:port asked for.
        target: String,
        /// What was wrong.
        reason: String,
    },
    /// h2c prior knowledge asked for through a forward proxy.
    #[error("h2c (HTTP/2 prior knowledge over cleartext) cannot go through the HTTP/1.1 forward proxy {proxy}; check an https:// URL (HTTP/2 goes through a CONNECT tunnel) or bypass the proxy (NO_PROXY, --no-proxy)")]
    H2cThroughProxy {
        /// The proxy's host:port.
        proxy: String,
    },
    /// The proxy connection failed while opening the tunnel.
    #[error("the proxy {proxy} connection failed during CONNECT: {source}")]
    Io {
        /// The proxy's host:port.
        proxy: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// An `http://` forward proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// `Proxy-Authorization` value, from `user:password@` in the URL.
    pub authorization: Option<String>,
}

impl Proxy {
    /// Parses `http://[user:password@]host[:port][/]`; a URL without a scheme is taken as
    /// `http://` (as curl does).
    ///
    /// ```
    /// use ssekit_check::proxy::Proxy;
    /// let p = Proxy::parse("http://squid.internal:3128", "--proxy").unwrap();
    /// assert_eq!((p.host.as_str(), p.port), ("squid.internal", 3128));
    /// assert!(Proxy::parse("socks5://127.0.0.1:1080", "ALL_PROXY").is_err());
    /// ```
    pub fn parse(url: &str, from: &'static str) -> Result<Self, ProxyError> {
        let bad = |reason: &str| ProxyError::BadUrl {
            url: url.to_owned(),
            from,
            reason: reason.to_owned(),
        };
        let text = url.trim();
        let with_scheme = match text.split_once("://") {
            Some(("http" | "HTTP", _)) => text.to_owned(),
            Some((scheme, _)) => {
                return Err(bad(&format!("`{scheme}://` proxies are not supported")))
            }
            None => format!("http://{text}"),
        };
        let uri: Uri = with_scheme.parse().map_err(|_| bad("not a URL"))?;
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return Err(bad("a proxy URL has no path"));
        }
        let authorization = authority
            .as_str()
            .rsplit_once('@')
            .map(|(userinfo, _)| basic(userinfo));
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Proxy {
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(DEFAULT_PROXY_PORT),
            authorization,
        })
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub fn addr(&self) -> String {
        host_port(&self.host, self.port)
    }
}

fn basic(userinfo: &str) -> String {
    let decoded = percent_decode(userinfo);
    let token = base64::engine::general_purpose::STANDARD.encode(decoded);
    format!("Basic {token}")
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| {
            std::str::from_utf8(h)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        });
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn host_port(host: &str, port: u16) -> String {
    match host.contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    }
}

/// One `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Exception {
    /// `*`: no proxy for any host.
    All,
    /// A host name, matching itself and its subdomains (a leading dot is optional), on any
    /// port or only `port`.
    Domain { name: String, port: Option<u16> },
    /// An address or a CIDR block.
    Net { addr: IpAddr, prefix: u8 },
}

impl Exception {
    fn parse(entry: &str) -> Option<Self> {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() {
            return None;
        }
        if entry == "*" {
            return Some(Exception::All);
        }
        if let Some((addr, prefix)) = entry.split_once('/') {
            let addr: IpAddr = addr.trim_matches(['[', ']']).parse().ok()?;
            return Some(Exception::Net {
                addr,
                prefix: prefix.parse().ok()?,
            });
        }
        if let Ok(addr) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
            let prefix = if addr.is_ipv4() { 32 } else { 128 };
            return Some(Exception::Net { addr, prefix });
        }
        let (name, port) = match entry.rsplit_once(':') {
            Some((name, port)) if !name.contains(':') => (name, port.parse().ok()),
            _ => (entry.as_str(), None),
        };
        let name = name.trim_start_matches("*.").trim_start_matches('.');
        Some(Exception::Domain {
            name: name.to_owned(),
            port,
        })
    }

    fn matches(&self, host: &str, port: u16) -> bool {
        match self {
            Exception::All => true,
            Exception::Domain { name, port: want } => {
                let suffix = host.len() > name.len()
                    && host.ends_with(name.as_str())
                    && host.as_bytes()[host.len() - name.len() - 1] == b'.';
                (host == name || suffix) && !want.is_some_and(|p| p != port)
            }
            Exception::Net { addr, prefix } => host
                .parse::<IpAddr>()
                .is_ok_and(|h| in_block(h, *addr, *prefix)),
        }
    }
}

fn in_block(host: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let (h, n, bits) = match (host, net) {
        (IpAddr::V4(h), IpAddr::V4(n)) => (u128::from(h.to_bits()), u128::from(n.to_bits()), 32),
        (IpAddr::V6(h), IpAddr::V6(n)) => (h.to_bits(), n.to_bits(), 128),
        _ => return false,
    };
    let prefix = u32::from(prefix).min(bits);
    let shift = bits - prefix;
    shift == bits || (h >> shift) == (n >> shift)
}

/// Which variables to read: the environment's own, or none (`--no-proxy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Env {
    /// Read `HTTP_PROXY` and the others.
    Read,
    /// Ignore them.
    Ignore,
}

/// The proxies in force, by target scheme, and the hosts that bypass them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    http: Option<Proxy>,
    https: Option<Proxy>,
    exceptions: Vec<Exception>,
}

impl Proxies {
    /// From `--proxy` (which wins for both schemes) and the variables `var` returns (`None`
    /// for an unset one; pass `|_| None` for `--no-proxy`).
    ///
    /// ```
    /// use ssekit_check::proxy::{Proxies, Route};
    /// let env = |name: &str| match name {
    ///     "HTTPS_PROXY" => Some("http://squid:3128".to_owned()),
    ///     "NO_PROXY" => Some("localhost,.internal".to_owned()),
    ///     _ => None,
    /// };
    /// let proxies = Proxies::new(None, env).unwrap();
    /// let via = |url: &str| proxies.route(&url.parse().unwrap());
    /// assert!(matches!(via("https://example.org/stream"), Route::Proxy(_)));
    /// assert_eq!(via("http://example.org/stream"), Route::Direct);
    /// assert_eq!(via("https://api.internal/stream"), Route::Direct);
    /// ```
    pub fn new(
        explicit: Option<&str>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ProxyError> {
        // Lower case first, as curl reads them; an empty value counts as unset.
        let first = |names: [&'static str; 2]| {
            names
                .into_iter()
                .find_map(|n| var(n).filter(|v| !v.trim().is_empty()).map(|v| (n, v)))
        };
        let parse = |found: Option<(&'static str, String)>| {
            found
                .map(|(from, url)| Proxy::parse(&url, from))
                .transpose()
        };
        let all = parse(first(["all_proxy", "ALL_PROXY"]))?;
        let mut proxies = Proxies {
            http: parse(first(["http_proxy", "HTTP_PROXY"]))?.or_else(|| all.clone()),
            https: parse(first(["https_proxy", "HTTPS_PROXY"]))?.or(all),
            exceptions: first(["no_proxy", "NO_PROXY"])
                .map(|(_, list)| list.split(',').filter_map(Exception::parse).collect())
                .unwrap_or_default(),
        };
        if let Some(url) = explicit {
            let proxy = Proxy::parse(url, "--proxy")?;
            proxies.http = Some(proxy.clone());
            proxies.https = Some(proxy);
        }
        Ok(proxies)
    }

    /// How to reach `uri`.
    pub fn route(&self, uri: &Uri) -> Route {
        let proxy = match uri.scheme_str() {
            Some("http") => self.http.as_ref(),
            Some("https") => self.https.as_ref(),
            _ => None,
        };
        let Some(proxy) = proxy else {
            return Route::Direct;
        };
        let Ok((host, port)) = crate::probe::authority(uri) else {
            return Route::Direct;
        };
        let host = host.to_ascii_lowercase();
        let host = host.trim_end_matches('.');
        if self.exceptions.iter().any(|e| e.matches(host, port)) {
            return Route::Direct;
        }
        Route::Proxy(proxy.clone())
    }

    /// Whether any proxy is set.
    pub fn is_empty(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }
}

/// The way to a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Connect to the target itself.
    Direct,
    /// Through this proxy: absolute-form for `http://`, a CONNECT tunnel for `https://`.
    Proxy(Proxy),
}

static PROXIES: RwLock<Option<Arc<Proxies>>> = RwLock::new(None);

/// Sets the proxies for every later connection of this process (`ssekit check` calls it once,
/// before the first request). Replaces an earlier setting.
pub fn set(proxies: Proxies) {
    let value = (!proxies.is_empty()).then(|| Arc::new(proxies));
    *PROXIES.write().unwrap_or_else(|p| p.into_inner()) = value;
}

/// How this process reaches `uri`: [`Route::Direct`] unless [`set`] configured a proxy for it.
pub fn route(uri: &Uri) -> Route {
    let proxies = PROXIES.read().unwrap_or_else(|p| p.into_inner()).clone();
    proxies.map_or(Route::Direct, |p| p.route(uri))
}

/// Asks `proxy` (already connected on `tcp`) for a tunnel to `host:port` and reads its answer
/// up to the end of the head; on `Ok` the stream is the tunnel.
pub async fn tunnel(
    tcp: &mut TcpStream,
    proxy: &Proxy,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<(), ProxyError> {
    let target = host_port(host, port);
    let io = |source| ProxyError::Io {
        proxy: proxy.addr(),
        source,
    };
    let exchange = async {
        tcp.write_all(connect_request(&target, proxy).as_bytes())
            .await
            .map_err(io)?;
        // Byte by byte up to the blank line: whatever follows belongs to the tunnel.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") && head.len() < MAX_CONNECT_REPLY {
            let byte = tcp.read_u8().await.map_err(io)?;
            head.push(byte);
        }
        Ok::<_, ProxyError>(head)
    };
    let head = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ProxyError::BadConnectReply {
            proxy: proxy.addr(),
            target: target.clone(),
            reason: format!("no answer within {timeout:?}"),
        })??;
    judge_connect_reply(&head, proxy, &target)
}

fn connect_request(target: &str, proxy: &Proxy) -> String {
    let auth = proxy
        .authorization
        .as_deref()
        .map(|a| format!("Proxy-Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n")
}

/// A CONNECT answer's head: 2xx opens the tunnel (RFC 9110 §9.3.6).
fn judge_connect_reply(head: &[u8], proxy: &Proxy, target: &str) -> Result<(), ProxyError> {
    let bad = |reason: &str| ProxyError::BadConnectReply {
        proxy: proxy.addr(),
        target: target.to_owned(),
        reason: reason.to_owned(),
    };
    if !head.ends_with(b"\r\n\r\n") {
        return Err(bad("the answer's head is cut short or too long"));
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(bad("no status line"));
    };
    if !version.starts_with("HTTP/1.") || code.len() != 3 || code.parse::<u16>().is_err() {
        return Err(bad(&format!(
            "status line `{}`",
            crate::checks::show(&line, 60)
        )));
    }
    if code.starts_with('2') {
        return Ok(());
    }
    let reason = parts.next().unwrap_or("").trim();
    Err(ProxyError::ConnectRefused {
        proxy: proxy.addr(),
        target: target.to_owned(),
        status: format!("{code} {reason}").trim_end().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn via(proxies: &Proxies, url: &str) -> Option<String> {
        match proxies.route(&url.parse().unwrap()) {
            Route::Direct => None,
            Route::Proxy(p) => Some(p.addr()),
        }
    }

    #[test]
    fn variables_pick_the_proxy_by_scheme() {
        let p = Proxies::new(
            None,
            env(&[
                ("HTTP_PROXY", "http://h:1"),
                ("https_proxy", "s:2"),
                ("HTTPS_PROXY", "http://ignored:3"),
            ]),
        )
        .unwrap();
        assert_eq!(via(&p, "http://example.org/"), Some("h:1".into()));
        assert_eq!(via(&p, "https://example.org/"), Some("s:2".into()));

        let all = Proxies::new(None, env(&[("ALL_PROXY", "http://a:8080")])).unwrap();
        assert_eq!(via(&all, "http://x/"), Some("a:8080".into()));
        assert_eq!(via(&all, "https://x/"), Some("a:8080".into()));

        let explicit = Proxies::new(Some("http://[::1]:3128"), env(&[("HTTP_PROXY", "h:1")]));
        assert_eq!(
            via(&explicit.unwrap(), "http://x/"),
            Some("[::1]:3128".into())
        );

        let none = Proxies::new(None, env(&[("HTTP_PROXY", " ")])).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn no_proxy_matches_suffixes_ports_addresses_and_star() {
        let list = "example.com, .internal:8443,10.0.0.0/8,::1,[2001:db8::]/32,LOCALHOST";
        let p = Proxies::new(Some("http://p:1"), env(&[("NO_PROXY", list)])).unwrap();
        for direct in [
            "http://example.com/",
            "http://api.Example.com./",
            "https://a.internal:8443/",
            "http://10.1.2.3:9/",
            "http://[::1]:80/",
            "http://[2001:db8::5]/",
            "http://localhost:3000/",
        ] {
            assert_eq!(via(&p, direct), None, "{direct}");
        }
        for proxied in [
            "http://notexample.com/",
            "https://a.internal/",
            "http://11.0.0.1/",
            "http://[::2]/",
            "http://example.org/",
        ] {
            assert_eq!(via(&p, proxied), Some("p:1".into()), "{proxied}");
        }
        let star = Proxies::new(Some("p:1"), env(&[("no_proxy", "*")])).unwrap();
        assert_eq!(via(&star, "https://anything/"), None);
    }

    #[test]
    fn proxy_urls() {
        let p = Proxy::parse("http://us%40er:pa%3Ass@proxy:3128/", "--proxy").unwrap();
        assert_eq!(p.addr(), "proxy:3128");
        let token = base64::engine::general_purpose::STANDARD.encode("us@er:pa:ss");
        assert_eq!(p.authorization, Some(format!("Basic {token}")));
        assert_eq!(Proxy::parse("proxy", "--proxy").unwrap().port, 1080);
        for bad in ["https://p:1", "socks5h://p:1", "http://p:1/path", "http://"] {
            let e = Proxy::parse(bad, "HTTPS_PROXY").unwrap_err().to_string();
            assert!(
                e.contains("HTTPS_PROXY") && e.contains("http://host:port"),
                "{e}"
            );
        }
    }

    #[test]
    fn connect_replies() {
        let proxy = Proxy::parse("p:3128", "--proxy").unwrap();
        let judge = |head: &[u8]| judge_connect_reply(head, &proxy, "x:443");
        assert!(judge(b"HTTP/1.1 200 Connection established\r\n\r\n").is_ok());
        assert!(judge(b"HTTP/1.0 200\r\nVia: squid\r\n\r\n").is_ok());
        let refused = judge(b"HTTP/1.1 403 Forbidden\r\nX-Squid-Error: ERR_ACCESS_DENIED\r\n\r\n")
            .unwrap_err()
            .to_string();
        assert!(refused.contains("answered 403 Forbidden"), "{refused}");
        assert!(refused.contains("CONNECT x:443"), "{refused}");
        for garbage in [&b"SSH-2.0-OpenSSH\r\n\r\n"[..], b"HTTP/1.1 200 OK\r\n"] {
            let e = judge(garbage).unwrap_err();
            assert!(matches!(e, ProxyError::BadConnectReply { .. }), "{e}");
        }
        assert_eq!(
            connect_request("[::1]:443", &proxy),
            "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"
        );
    }
}
