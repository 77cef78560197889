//! HTTP/1.1 event streams served without hyper, so an idle stream costs little more than its
//! socket and its hub cursor.
//!
//! hyper keeps an 8 KiB read buffer and an 8 KiB head buffer for a connection's whole life
//! (no knob releases them), which made an idle stream cost ~16 KiB. A stream never reads after
//! its request head, so this path peeks at the head, answers `GET /stream` itself when the
//! request is plain (whole head in hand, nothing after it, no body, no upgrade), and writes the
//! body as HTTP/1.1 chunks. Everything else, including every request it does not take, goes to
//! hyper untouched: peeking consumes nothing.
//!
//! The response is the same as hyper's: the same handler builds status, headers and body
//! (`http::events::stream`), this module only frames them, adding `date` and
//! `transfer-encoding: chunked` (or `content-length` for a fixed body) as hyper does.

use std::io::{self, IoSlice};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Body;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Version};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::http::{self, App, Peer, ResponseBody};
use crate::metrics::Metrics;

/// Longest request head taken on this path; a longer one goes to hyper (which allows more).
/// Browsers send 0.5-1 KiB without cookies. Kept small because it is allocated per connection
/// (briefly), and freed blocks of that size between long-lived small ones fragment the heap.
const MAX_HEAD: usize = 2 * 1024;
/// Most request headers taken on this path.
const MAX_HEADERS: usize = 48;

/// What became of a connection offered to this path.
pub(crate) enum Taken {
    /// Not a request for this path: serve it with hyper (nothing was read).
    Declined(TcpStream),
    /// Served here, or closed (the client sent nothing before the timeout, or left).
    Done,
}

/// Serves the connection here if its first request is a plain `GET /stream` over HTTP/1.1.
/// A connection that has sent nothing yet is closed when the server stops (as hyper closes idle
/// connections): browsers open spare connections ahead of time and would otherwise send their
/// next request to a server that is going away.
pub(crate) async fn serve(
    tcp: TcpStream,
    app: &App,
    peer: &Peer,
    wait: Duration,
    stopped: &mut watch::Receiver<bool>,
) -> Taken {
    // Boxed, and so freed once the stream runs: opening (the request head, the handler, the
    // Redis path) needs far more state than an idle stream, and a task keeps the size of its
    // largest state for its whole life.
    let (mut tcp, body, framing) = match Box::pin(open(tcp, app, peer, wait, stopped)).await {
        Opened::Streaming(tcp, body, framing) => (tcp, body, framing),
        Opened::Declined(tcp) => return Taken::Declined(tcp),
        Opened::Done => return Taken::Done,
    };
    if let Err(e) = send_body(&mut tcp, peer, body, framing).await {
        tracing::debug!(peer = %peer.addr, error = %e, "stream connection ended");
    }
    Taken::Done
}

/// How the response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Chunked,
    Length,
}

/// What opening a connection came to.
enum Opened {
    /// The response head is out; the body follows.
    Streaming(TcpStream, ResponseBody, Framing),
    Declined(TcpStream),
    /// Answered in full, or closed.
    Done,
}

/// Peeks at the request, takes it if it is ours, and writes the response head.
async fn open(
    tcp: TcpStream,
    app: &App,
    peer: &Peer,
    wait: Duration,
    stopped: &mut watch::Receiver<bool>,
) -> Opened {
    let mut head = vec![0u8; MAX_HEAD];
    let peeked = tokio::select! {
        peeked = tokio::time::timeout(wait, tcp.peek(&mut head)) => peeked,
        _ = stopped.wait_for(|s| *s) => return Opened::Done,
    };
    let len = match peeked {
        Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Opened::Done,
        Ok(Ok(n)) => n,
    };
    let Some((req, head_len)) = plain_stream_request(&head[..len]) else {
        return Opened::Declined(tcp);
    };
    // The whole head was peeked and nothing follows it: reading it now cannot block.
    head.truncate(head_len);
    let mut tcp = tcp;
    if tokio::io::AsyncReadExt::read_exact(&mut tcp, &mut head)
        .await
        .is_err()
    {
        return Opened::Done;
    }
    Metrics::add(&app.metrics.streams_direct, 1);
    let (parts, body) = http::events::stream(app, peer, &req).await.into_parts();
    let length = body.size_hint().exact();
    if tcp.write_all(&response_head(&parts, length)).await.is_err() || length == Some(0) {
        return Opened::Done;
    }
    let framing = if length.is_some() {
        Framing::Length
    } else {
        Framing::Chunked
    };
    Opened::Streaming(tcp, body, framing)
}

/// The request, if it is one this path takes, and the length of its head.
fn plain_stream_request(bytes: &[u8]) -> Option<(Request<()>, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(n)) if n == bytes.len() => n,
        _ => return None,
    };
    if parsed.method != Some("GET") || parsed.version != Some(1) {
        return None;
    }
    let target = parsed.path?;
    if target.split('?').next() != Some("/stream") {
        return None;
    }
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(target)
        .version(Version::HTTP_11);
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        // A body, an upgrade or an expectation is hyper's to handle.
        let plain = match name.as_str() {
            "content-length" => h.value == b"0",
            "transfer-encoding" | "upgrade" | "expect" => false,
            _ => true,
        };
        if !plain {
            return None;
        }
        req = req.header(name, HeaderValue::from_bytes(h.value).ok()?);
    }
    let req = req.body(()).ok()?;
    Some((req, head_len))
}

/// Writes the body until it ends, the client leaves, or the server cuts the connection.
async fn send_body(
    tcp: &mut TcpStream,
    peer: &Peer,
    mut body: ResponseBody,
    framing: Framing,
) -> io::Result<()> {
    let (mut reader, mut writer) = tcp.split();
    loop {
        // In a block so that the frame (which could hold trailers) takes no room in the task
        // while the data is written: only the `Bytes` lives across that wait.
        let data = {
            let frame = tokio::select! {
                _ = peer.conn.kill.notified() => return Ok(()),
                gone = client_gone(&mut reader) => return gone,
                frame = body.frame() => frame,
            };
            match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    // Trailers never come on a stream.
                    Err(_) => continue,
                },
                Some(Err(never)) => match never {},
                None => break,
            }
        };
        // Boxed: a write in progress needs more state than waiting does, and an idle stream
        // (the common case) should not carry it. One allocation per write, next to a syscall.
        tokio::select! {
            _ = peer.conn.kill.notified() => return Ok(()),
            written = Box::pin(write_piece(&mut writer, &data, framing)) => written?,
        }
    }
    if framing == Framing::Chunked {
        writer.write_all(b"0\r\n\r\n").await?;
    }
    Ok(())
}

/// Resolves when the client closes its side or the connection fails. Anything it sends after
/// the request head (it should send nothing) is read and dropped.
async fn client_gone(reader: &mut tokio::net::tcp::ReadHalf<'_>) -> io::Result<()> {
    let mut sink = [0u8; 16];
    loop {
        reader.readable().await?;
        match reader.try_read(&mut sink) {
            Ok(0) => return Ok(()),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Status line and headers, as hyper writes them (lower-case names), plus `date` and the
/// body's framing.
fn response_head(parts: &hyper::http::response::Parts, length: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let status = parts.status;
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match length {
        // This path serves one request per connection: say so, so the client does not send a
        // second one that only hyper could have answered.
        Some(n) => {
            out.extend_from_slice(
                format!("content-length: {n}\r\nconnection: close\r\n").as_bytes(),
            );
        }
        None => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"date: ");
    out.extend_from_slice(httpdate::fmt_http_date(SystemTime::now()).as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// One body piece: a chunk (size line, data, CRLF) in as few writes as the socket allows, or
/// the bytes as they are for a body of known length.
async fn write_piece(
    w: &mut (impl AsyncWrite + Unpin),
    data: &Bytes,
    framing: Framing,
) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    if framing == Framing::Length {
        return w.write_all(data).await;
    }
    let size = format!("{:x}\r\n", data.len());
    write_all_vectored(w, [size.as_bytes(), data, b"\r\n"]).await
}

/// `write_all` over several slices with vectored writes, resuming after partial writes.
async fn write_all_vectored(
    w: &mut (impl AsyncWrite + Unpin),
    mut parts: [&[u8]; 3],
) -> io::Result<()> {
    let mut first = 0;
    while first < parts.len() {
        let slices = [
            IoSlice::new(parts[first]),
            IoSlice::new(parts.get(first + 1).copied().unwrap_or(&[])),
            IoSlice::new(parts.get(first + 2).copied().unwrap_or(&[])),
        ];
        let mut written = w.write_vectored(&slices[..parts.len() - first]).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while first < parts.len() && written >= parts[first].len() {
            written -= parts[first].len();
            first += 1;
        }
        if first < parts.len() {
            parts[first] = &parts[first][written..];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_only_plain_stream_requests() {
        let ok = b"GET /stream?topic=a HTTP/1.1\r\nhost: x\r\nlast-event-id: 5\r\n\r\n";
        let (req, len) = plain_stream_request(ok).expect("a plain stream request");
        assert_eq!(len, ok.len());
        assert_eq!(req.uri().query(), Some("topic=a"));
        assert_eq!(req.headers()["last-event-id"], "5");
        for declined in [
            &b"GET /stream HTTP/1.0\r\nhost: x\r\n\r\n"[..],
            b"HEAD /stream HTTP/1.1\r\nhost: x\r\n\r\n",
            b"GET /poll HTTP/1.1\r\nhost: x\r\n\r\n",
            b"GET /streams HTTP/1.1\r\nhost: x\r\n\r\n",
            b"GET /stream HTTP/1.1\r\nhost: x\r\n",
            b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"GET /stream HTTP/1.1\r\ncontent-length: 3\r\n\r\n",
            b"GET /stream HTTP/1.1\r\nupgrade: h2c\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            assert!(
                plain_stream_request(declined).is_none(),
                "{}",
                String::from_utf8_lossy(declined)
            );
        }
    }

    /// A writer that takes at most `step` bytes per call, to exercise partial writes.
    struct Trickle {
        out: Vec<u8>,
        step: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            let n = buf.len().min(self.step);
            self.out.extend_from_slice(&buf[..n]);
            std::task::Poll::Ready(Ok(n))
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn chunks_survive_partial_writes() {
        let data = Bytes::from(vec![b'x'; 300]);
        for step in [1, 2, 3, 7, 100, 1000] {
            let mut w = Trickle {
                out: Vec::new(),
                step,
            };
            write_piece(&mut w, &data, Framing::Chunked).await.unwrap();
            let mut expected = b"12c\r\n".to_vec();
            expected.extend_from_slice(&data);
            expected.extend_from_slice(b"\r\n");
            assert_eq!(w.out, expected, "step {step}");
        }
    }
}
