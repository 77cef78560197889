//! The runner's own timed HTTP clients (HTTP/1.1 and HTTP/2 on hyper 1.x, over TCP or TLS, and
//! a raw writer for what hyper refuses to send). Every body read is returned with the
//! instant it arrived, so buffering, time to headers and heartbeat gaps can be measured.
//!
//! Nothing here judges a server: it only observes. The checks decide.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use crate::proxy::{self, ProxyError, Route};
use crate::tls::{self, Alpn, Io};

/// Why a probe could not observe what it asked for.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL cannot be used by the runner.
    #[error("unsupported URL {0}: use http://host[:port]/path or https://host[:port]/path")]
    UnsupportedUrl(String),
    /// TCP connect failed.
    #[error("cannot connect to {addr}: {source}; is the server running and reachable?")]
    Connect {
        /// host:port
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A step did not finish in time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
    /// The HTTP exchange failed.
    #[error("HTTP error: {0}")]
    Http(String),
    /// TLS failed (certificate, ALPN).
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A header value the runner was asked to send is not valid HTTP.
    #[error("invalid header: {0}")]
    Header(String),
    /// No response head although an earlier request for the same stream was answered
    /// promptly.
    #[error(
        "timed out after {waited:?} waiting for the response headers, where the first request \
         for this stream was answered in {first_ms} ms: {cause}"
    )]
    NoHeadAnymore {
        /// How long this request waited.
        waited: Duration,
        /// How long the first request took to its head.
        first_ms: u128,
        /// The likely cause, in the server's terms.
        cause: String,
    },
    /// The forward proxy could not be reached or would not carry the request.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
}

impl ProbeError {
    /// True when the request got no response head in time (the server or something in front
    /// of it holds it).
    pub fn is_no_head(&self) -> bool {
        matches!(
            self,
            ProbeError::Timeout(_, "the response headers") | ProbeError::NoHeadAnymore { .. }
        )
    }

    /// True when the failure happened before any HTTP exchange (nothing listens).
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            ProbeError::Connect { .. } | ProbeError::Proxy(ProxyError::Unreachable { .. })
        )
    }
}

/// Which HTTP version a request goes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/1.1 over TCP.
    Http1,
    /// HTTP/2: prior knowledge over cleartext TCP (h2c) for `http://`, ALPN `h2` for `https://`.
    H2c,
}

/// How far the server may write ahead of what the runner has read on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Window {
    /// Whatever the OS autotunes (megabytes on Linux): the runner reads as fast as it can.
    #[default]
    System,
    /// A receive buffer of this many bytes, set before connecting so that the window offered in
    /// the handshake is small too: a reader that stops reading pushes back on the server (or on
    /// the proxy in between) after kilobytes instead of megabytes.
    Small(u32),
}

/// The `Accept-Encoding` Chromium sends with an `EventSource` request.
pub const BROWSER_ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// One request the runner sends.
#[derive(Debug, Clone)]
pub struct Request {
    /// GET, HEAD, POST, ...
    pub method: Method,
    /// Absolute `http://` URL.
    pub uri: Uri,
    /// Headers sent (Host is added for HTTP/1.1).
    pub headers: HeaderMap,
    /// Request body (empty for GET).
    pub body: Bytes,
    /// HTTP version.
    pub proto: Proto,
    /// The connection's receive window.
    pub window: Window,
}

impl Request {
    /// What a browser's `EventSource` sends: `GET`, `Accept: text/event-stream`,
    /// `Cache-Control: no-cache` and the browser's [`BROWSER_ACCEPT_ENCODING`] (unless `extra`
    /// names an `Accept-Encoding` of its own). Compression layers only show up for a request
    /// that asks for compression, and every browser does.
    pub fn sse(uri: Uri, extra: &HeaderMap) -> Self {
        let mut headers = extra.clone();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
        headers
            .entry(http::header::ACCEPT_ENCODING)
            .or_insert(HeaderValue::from_static(BROWSER_ACCEPT_ENCODING));
        Request {
            method: Method::GET,
            uri,
            headers,
            body: Bytes::new(),
            proto: Proto::Http1,
            window: Window::System,
        }
    }

    /// The same request without `Accept-Encoding`: what curl and most SSE client libraries
    /// send (`--bare-request`), and the control that shows a compression layer at fault.
    pub fn bare(mut self) -> Self {
        self.headers.remove(http::header::ACCEPT_ENCODING);
        self
    }

    /// A plain request with the given method and no body.
    pub fn new(method: Method, uri: Uri, extra: &HeaderMap) -> Self {
        Request {
            method,
            uri,
            headers: extra.clone(),
            body: Bytes::new(),
            proto: Proto::Http1,
            window: Window::System,
        }
    }

    /// Sets a header (replacing an earlier one of that name).
    pub fn header(mut self, name: &'static str, value: &str) -> Result<Self, ProbeError> {
        let value = HeaderValue::from_str(value).map_err(|e| ProbeError::Header(e.to_string()))?;
        self.headers.insert(HeaderName::from_static(name), value);
        Ok(self)
    }

    /// Switches the request to another HTTP version.
    pub fn proto(mut self, proto: Proto) -> Self {
        self.proto = proto;
        self
    }

    /// Opens the request's connection with another receive window.
    pub fn window(mut self, window: Window) -> Self {
        self.window = window;
        self
    }
}

/// One body read: when it arrived and what it held.
#[derive(Debug, Clone)]
pub struct Read {
    /// When the bytes were handed to the runner.
    pub at: Instant,
    /// The bytes (after transfer decoding; before content decoding).
    pub bytes: Bytes,
}

/// What waiting for the next read produced.
#[derive(Debug)]
pub enum Next {
    /// Some bytes.
    Data(Read),
    /// The server ended the body cleanly.
    Eof(Instant),
    /// The connection failed mid-body (reset, protocol error).
    Error(Instant, String),
    /// Nothing arrived before the deadline; the response is still open.
    Deadline,
}

/// A response whose head has arrived; its body is read on demand.
pub struct Response {
    /// Status code.
    pub status: StatusCode,
    /// HTTP version of the response.
    pub version: Version,
    /// Every header as received (duplicates kept).
    pub headers: HeaderMap,
    /// When the request was sent.
    pub sent_at: Instant,
    /// When the response head arrived.
    pub head_at: Instant,
    body: Option<Incoming>,
    conn: Option<JoinHandle<()>>,
}

impl Drop for Response {
    fn drop(&mut self) {
        // Dropping the body and the connection task closes the socket at once.
        self.body = None;
        if let Some(conn) = self.conn.take() {
            conn.abort();
        }
    }
}

impl Response {
    /// Time from sending the request to receiving the head.
    pub fn time_to_head(&self) -> Duration {
        self.head_at - self.sent_at
    }

    /// Waits for the next body read until `deadline`.
    pub async fn next(&mut self, deadline: Instant) -> Next {
        let Some(body) = self.body.as_mut() else {
            return Next::Eof(Instant::now());
        };
        loop {
            let frame = match tokio::time::timeout_at(deadline.into(), body.frame()).await {
                Err(_) => return Next::Deadline,
                Ok(None) => {
                    self.body = None;
                    return Next::Eof(Instant::now());
                }
                Ok(Some(Err(e))) => {
                    self.body = None;
                    return Next::Error(Instant::now(), error_chain(&e));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            if let Ok(bytes) = frame.into_data() {
                if !bytes.is_empty() {
                    return Next::Data(Read {
                        at: Instant::now(),
                        bytes,
                    });
                }
            }
        }
    }

    /// Reads the whole body (bounded by `deadline` and `max` bytes).
    pub async fn body_text(&mut self, deadline: Instant, max: usize) -> (Vec<u8>, Next) {
        let mut out = Vec::new();
        loop {
            match self.next(deadline).await {
                Next::Data(r) => {
                    out.extend_from_slice(&r.bytes);
                    if out.len() >= max {
                        return (out, Next::Deadline);
                    }
                }
                end => return (out, end),
            }
        }
    }
}

/// `host:port` of an `http://` or `https://` URL.
pub fn authority(uri: &Uri) -> Result<(String, u16), ProbeError> {
    let default_port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return Err(ProbeError::UnsupportedUrl(uri.to_string())),
    };
    let host = uri
        .host()
        .ok_or_else(|| ProbeError::UnsupportedUrl(uri.to_string()))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok((host, uri.port_u16().unwrap_or(default_port)))
}

/// Connects to the URL's host (or the forward proxy [`proxy::route`] names for it: a CONNECT
/// tunnel for `https://`) and, for `https://`, completes TLS offering the ALPN protocol that
/// `proto` needs. Through a proxy, an `http://` request must be written in absolute-form
/// ([`request_target`]); h2c is refused with [`ProxyError::H2cThroughProxy`].
pub async fn open(uri: &Uri, proto: Proto, timeout: Duration) -> Result<Box<dyn Io>, ProbeError> {
    open_with(uri, proto, Window::System, timeout).await
}

/// [`open`] with a receive window of the caller's choosing: with a proxy in between, it is the
/// connection to the proxy that gets it.
pub async fn open_with(
    uri: &Uri,
    proto: Proto,
    window: Window,
    timeout: Duration,
) -> Result<Box<dyn Io>, ProbeError> {
    let tcp = match proxy::route(uri) {
        Route::Direct => {
            let (host, port) = authority(uri)?;
            tcp_connect(&host, port, window, timeout).await?
        }
        Route::Proxy(p) => through(&p, uri, proto, window, timeout).await?,
    };
    secure(tcp, uri, proto, timeout).await
}

/// A connection to `p` that carries requests for `uri`: as is for `http://` (absolute-form
/// requests), a CONNECT tunnel for `https://`.
async fn through(
    p: &proxy::Proxy,
    uri: &Uri,
    proto: Proto,
    window: Window,
    timeout: Duration,
) -> Result<TcpStream, ProbeError> {
    let tls = uri.scheme_str() == Some("https");
    if !tls && proto == Proto::H2c {
        return Err(ProxyError::H2cThroughProxy { proxy: p.addr() }.into());
    }
    let mut tcp = match tcp_connect(&p.host, p.port, window, timeout).await {
        Err(ProbeError::Connect { addr, source }) => {
            return Err(ProxyError::Unreachable { addr, source }.into())
        }
        other => other?,
    };
    if tls {
        let (host, port) = authority(uri)?;
        proxy::tunnel(&mut tcp, p, &host, port, timeout).await?;
    }
    Ok(tcp)
}

/// The request-target an HTTP/1.1 request for `uri` is written with: origin-form (`/path`) on
/// a direct connection or a tunnel, absolute-form (`http://host/path`) to a forward proxy.
/// Also the `Proxy-Authorization` value that proxy wants, if any.
pub fn request_target(uri: &Uri) -> (String, Option<String>) {
    match proxy::route(uri) {
        Route::Proxy(p) if uri.scheme_str() == Some("http") => {
            let absolute = format!(
                "http://{}{}",
                uri.authority().map_or("", |a| a.as_str()),
                path_and_query(uri)
            );
            (absolute, p.authorization)
        }
        _ => (path_and_query(uri).to_owned(), None),
    }
}

/// Wraps an open TCP stream in TLS when the URL is `https://`.
pub async fn secure(
    tcp: TcpStream,
    uri: &Uri,
    proto: Proto,
    timeout: Duration,
) -> Result<Box<dyn Io>, ProbeError> {
    if uri.scheme_str() != Some("https") {
        return Ok(Box::new(tcp));
    }
    let (host, _) = authority(uri)?;
    let alpn = match proto {
        Proto::Http1 => Alpn::Http1,
        Proto::H2c => Alpn::H2,
    };
    Ok(tls::wrap(tcp, &host, alpn, timeout).await?)
}

/// The protocol an `https://` server chooses when offered `h2` and `http/1.1` as a browser
/// offers them (`None`: no ALPN, which means HTTP/1.1). Through a forward proxy's tunnel when
/// one applies.
pub async fn browser_alpn(uri: &Uri, timeout: Duration) -> Result<Option<Vec<u8>>, ProbeError> {
    let tcp = match proxy::route(uri) {
        Route::Direct => connect(uri, timeout).await?,
        Route::Proxy(p) => through(&p, uri, Proto::Http1, Window::System, timeout).await?,
    };
    let (host, _) = authority(uri)?;
    let (_, chosen) = tls::handshake(tcp, &host, Alpn::Browser, timeout).await?;
    Ok(chosen)
}

/// Opens a TCP connection to the URL's host within `timeout` (never through a proxy: see
/// [`open`]).
pub async fn connect(uri: &Uri, timeout: Duration) -> Result<TcpStream, ProbeError> {
    let (host, port) = authority(uri)?;
    tcp_connect(&host, port, Window::System, timeout).await
}

async fn tcp_connect(
    host: &str,
    port: u16,
    window: Window,
    timeout: Duration,
) -> Result<TcpStream, ProbeError> {
    let addr = format!("{host}:{port}");
    let connecting = async {
        match window {
            Window::System => TcpStream::connect((host, port)).await,
            Window::Small(bytes) => connect_small(host, port, bytes).await,
        }
    };
    let stream = tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| ProbeError::Timeout(timeout, "the TCP connection"))?
        .map_err(|source| ProbeError::Connect { addr, source })?;
    // Latency is what the runner measures: never let Nagle hold small writes back.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Connects with a `bytes` receive buffer, trying each address the name resolves to in turn
/// (as [`TcpStream::connect`] does).
async fn connect_small(host: &str, port: u16, bytes: u32) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = match addr {
            std::net::SocketAddr::V4(_) => TcpSocket::new_v4()?,
            std::net::SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.set_recv_buffer_size(bytes)?;
        match socket.connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the name resolves to no address",
        )
    }))
}

/// Sends `req` on a new connection and waits (at most `timeout`) for the response head.
pub async fn send(req: Request, timeout: Duration) -> Result<Response, ProbeError> {
    let sent_at = Instant::now();
    let stream = open_with(&req.uri, req.proto, req.window, timeout).await?;
    let io = TokioIo::new(stream);
    match req.proto {
        Proto::Http1 => {
            let (mut sender, conn) =
                tokio::time::timeout(timeout, hyper::client::conn::http1::handshake(io))
                    .await
                    .map_err(|_| ProbeError::Timeout(timeout, "the HTTP/1.1 handshake"))?
                    .map_err(|e| ProbeError::Http(error_chain(&e)))?;
            let conn = tokio::spawn(async move {
                let _ = conn.await;
            });
            let request = build(&req, true)?;
            finish(sender.send_request(request), conn, sent_at, timeout).await
        }
        Proto::H2c => {
            let (mut sender, conn) = h2_handshake(io, timeout).await?;
            let request = build(&req, false)?;
            finish(sender.send_request(request), conn, sent_at, timeout).await
        }
    }
}

async fn finish(
    fut: impl std::future::Future<Output = Result<http::Response<Incoming>, hyper::Error>>,
    conn: JoinHandle<()>,
    sent_at: Instant,
    timeout: Duration,
) -> Result<Response, ProbeError> {
    let response = match tokio::time::timeout(timeout, fut).await {
        Err(_) => {
            conn.abort();
            return Err(ProbeError::Timeout(timeout, "the response headers"));
        }
        Ok(Err(e)) => {
            conn.abort();
            return Err(ProbeError::Http(error_chain(&e)));
        }
        Ok(Ok(r)) => r,
    };
    let head_at = Instant::now();
    let (parts, body) = response.into_parts();
    Ok(Response {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        sent_at,
        head_at,
        body: Some(body),
        conn: Some(conn),
    })
}

fn build(req: &Request, host_header: bool) -> Result<http::Request<Full<Bytes>>, ProbeError> {
    let mut builder = http::Request::builder().method(req.method.clone());
    if host_header {
        // hyper writes the URI as given: absolute-form when it holds a scheme and authority.
        let (target, proxy_auth) = request_target(&req.uri);
        builder = builder.uri(target);
        if let Some(auth) = req.uri.authority() {
            builder = builder.header(http::header::HOST, auth.as_str());
        }
        if let Some(value) = proxy_auth {
            builder = builder.header(http::header::PROXY_AUTHORIZATION, value);
        }
        builder = builder.version(Version::HTTP_11);
    } else {
        builder = builder.uri(req.uri.clone()).version(Version::HTTP_2);
    }
    let mut request = builder
        .body(Full::new(req.body.clone()))
        .map_err(|e| ProbeError::Http(e.to_string()))?;
    for (name, value) in &req.headers {
        request.headers_mut().append(name.clone(), value.clone());
    }
    Ok(request)
}

type H2Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

async fn h2_handshake(
    io: TokioIo<Box<dyn Io>>,
    timeout: Duration,
) -> Result<(H2Sender, JoinHandle<()>), ProbeError> {
    let (sender, conn) = tokio::time::timeout(
        timeout,
        hyper::client::conn::http2::handshake(TokioExecutor::new(), io),
    )
    .await
    .map_err(|_| ProbeError::Timeout(timeout, "the HTTP/2 handshake"))?
    .map_err(|e| ProbeError::Http(error_chain(&e)))?;
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((sender, conn))
}

/// One HTTP/2 connection (prior knowledge) on which many streams can be opened.
pub struct H2Conn {
    sender: H2Sender,
    conn: JoinHandle<()>,
}

impl Drop for H2Conn {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

impl H2Conn {
    /// Connects and completes the HTTP/2 preface within `timeout`.
    pub async fn handshake(uri: &Uri, timeout: Duration) -> Result<Self, ProbeError> {
        let stream = open(uri, Proto::H2c, timeout).await?;
        Self::handshake_io(TokioIo::new(stream), timeout).await
    }

    async fn handshake_io(io: TokioIo<Box<dyn Io>>, timeout: Duration) -> Result<Self, ProbeError> {
        let (sender, conn) = h2_handshake(io, timeout).await?;
        // The handshake future returns before the server's SETTINGS arrive; a server that does
        // not speak h2c shows up on the first request instead.
        Ok(H2Conn { sender, conn })
    }

    /// Opens one more stream on this connection.
    pub async fn send(&self, req: &Request, timeout: Duration) -> Result<Response, ProbeError> {
        let sent_at = Instant::now();
        let mut sender = self.sender.clone();
        tokio::time::timeout(timeout, sender.ready())
            .await
            .map_err(|_| ProbeError::Timeout(timeout, "a free HTTP/2 stream"))?
            .map_err(|e| ProbeError::Http(error_chain(&e)))?;
        let request = build(req, false)?;
        // The stream's body keeps the connection alive through `sender`; the connection task
        // belongs to `self`, so the response gets a no-op handle.
        let noop = tokio::spawn(async {});
        finish(sender.send_request(request), noop, sent_at, timeout).await
    }
}

/// An error and all its sources, joined, so the root cause (an h2 `PROTOCOL_ERROR`, a reset)
/// is visible in reports.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// What a raw exchange (bytes written by hand) returned.
#[derive(Debug, Default)]
pub struct RawExchange {
    /// Everything read, up to the cap.
    pub bytes: Vec<u8>,
    /// Whether the server closed the connection before the deadline.
    pub closed: bool,
    /// When the first byte arrived, after the request was written.
    pub first_byte: Option<Duration>,
}

/// Writes `request` as is and reads the answer until EOF, `window`, or `max` bytes. For what
/// hyper refuses to send (HTTP/1.0, malformed header values) and for byte-exact framing checks.
pub async fn raw(
    uri: &Uri,
    request: &[u8],
    window: Duration,
    max: usize,
) -> Result<RawExchange, ProbeError> {
    // The window bounds the exchange; connecting gets its own, saner bound.
    let mut stream = open(uri, Proto::Http1, window.max(Duration::from_secs(2))).await?;
    let request = via_proxy(uri, request);
    let started = Instant::now();
    tokio::time::timeout(window, stream.write_all(&request))
        .await
        .map_err(|_| ProbeError::Timeout(window, "writing the request"))?
        .map_err(|e| ProbeError::Http(e.to_string()))?;
    let deadline = started + window;
    let mut out = RawExchange::default();
    let mut buf = vec![0u8; 16 * 1024];
    while out.bytes.len() < max {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await {
            Err(_) => break,
            Ok(Ok(0)) | Ok(Err(_)) => {
                out.closed = true;
                break;
            }
            Ok(Ok(n)) => {
                out.first_byte.get_or_insert_with(|| started.elapsed());
                out.bytes.extend_from_slice(&buf[..n]);
            }
        }
    }
    Ok(out)
}

/// A hand-written request as a forward proxy must get it: the request line's origin-form
/// target made absolute, and `Proxy-Authorization` added after it when the proxy wants it.
/// Unchanged on a direct connection or a tunnel, or when the target is not origin-form.
fn via_proxy<'a>(uri: &Uri, request: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
    let (target, auth) = request_target(uri);
    if !target.starts_with("http://") {
        return request.into();
    }
    let Some(line_end) = request.windows(2).position(|w| w == b"\r\n") else {
        return request.into();
    };
    let line = String::from_utf8_lossy(&request[..line_end]);
    let mut parts = line.splitn(3, ' ');
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return request.into();
    };
    if !path.starts_with('/') {
        return request.into();
    }
    let origin = uri.authority().map_or("", |a| a.as_str());
    let mut out = format!("{method} http://{origin}{path} {version}\r\n").into_bytes();
    if let Some(value) = auth {
        out.extend_from_slice(format!("Proxy-Authorization: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(&request[line_end + 2..]);
    out.into()
}

/// The origin-form request target (`/path?query`) of a URL.
pub fn path_and_query(uri: &Uri) -> &str {
    uri.path_and_query().map_or("/", |p| p.as_str())
}

/// The same URL with `path_and_query` replaced.
pub fn with_path(uri: &Uri, path_and_query: &str) -> Result<Uri, ProbeError> {
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|_| ProbeError::UnsupportedUrl(path_and_query.into()))?,
    );
    Uri::from_parts(parts).map_err(|e| ProbeError::UnsupportedUrl(e.to_string()))
}

/// The same URL with one query parameter appended (value percent-encoded).
pub fn with_query(uri: &Uri, name: &str, value: &str) -> Result<Uri, ProbeError> {
    let pq = path_and_query(uri);
    let sep = if pq.contains('?') { '&' } else { '?' };
    with_path(uri, &format!("{pq}{sep}{name}={}", percent_encode(value)))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_appended_and_encoded() {
        let uri: Uri = "http://127.0.0.1:1/stream?topic=a".parse().unwrap();
        let out = with_query(&uri, "lastEventId", "a b\r\n").unwrap();
        assert_eq!(
            out.to_string(),
            "http://127.0.0.1:1/stream?topic=a&lastEventId=a%20b%0D%0A"
        );
    }

    #[test]
    fn schemes_and_default_ports() {
        let port = |u: &str| authority(&u.parse().unwrap()).map(|(_, p)| p);
        assert_eq!(port("https://example.org/").unwrap(), 443);
        assert_eq!(port("http://[::1]/").unwrap(), 80);
        let err = port("ftp://example.org/").unwrap_err();
        assert!(err.to_string().contains("https://"), "{err}");
    }
}
