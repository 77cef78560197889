//! The `h2-connection-header` misbehaviour. hyper and the `h2` crate both refuse to send
//! connection-specific headers over HTTP/2 (rightly), so this small responder writes the
//! frames itself: SETTINGS, PING and the stream's HEADERS and DATA, with `connection:
//! keep-alive` in the header block. It does not decode the request's HPACK block: every request
//! on the connection is answered with one live event stream (all topics, no resume).

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::Version;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::events::{self, Opened};
use crate::http::{App, Peer, ResponseBody};
use crate::hub::Topics;

const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const MAX_FRAME: usize = 16_384;

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// Serves the connection here if it starts with the HTTP/2 preface; otherwise hands it back
/// untouched (the bytes are only peeked at) for hyper.
pub(crate) async fn serve_if_preface(tcp: TcpStream, app: &App, peer: &Peer) -> Option<TcpStream> {
    let mut seen = [0u8; 24];
    for _ in 0..500 {
        let peeked = tokio::time::timeout(Duration::from_secs(5), tcp.peek(&mut seen)).await;
        let n = match peeked {
            Ok(Ok(n)) => n,
            _ => return Some(tcp),
        };
        if n == 0 || seen[..n] != PREFACE[..n] {
            return Some(tcp);
        }
        if n == PREFACE.len() {
            if let Err(e) = serve(tcp, app, peer).await {
                tracing::debug!(error = %e, "raw HTTP/2 connection ended");
            }
            return None;
        }
        // Part of the preface so far: wait for the rest.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Some(tcp)
}

fn frame(out: &mut BytesMut, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    out.put_slice(&len.to_be_bytes()[1..]);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(stream & 0x7fff_ffff);
    out.put_slice(payload);
}

/// HPACK integer with an `n`-bit prefix (RFC 7541 §5.1).
fn hpack_int(out: &mut BytesMut, first: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.put_u8(first | value as u8);
        return;
    }
    out.put_u8(first | max as u8);
    value -= max;
    while value >= 128 {
        out.put_u8((value % 128 + 128) as u8);
        value /= 128;
    }
    out.put_u8(value as u8);
}

/// The response header block: `:status: 200` (static index 8), then every header as a literal
/// without indexing and without Huffman coding.
fn header_block(headers: &HeaderMap) -> BytesMut {
    let mut block = BytesMut::new();
    block.put_u8(0x88);
    for (name, value) in headers {
        block.put_u8(0x00);
        hpack_int(&mut block, 0, 7, name.as_str().len());
        block.put_slice(name.as_str().as_bytes());
        hpack_int(&mut block, 0, 7, value.len());
        block.put_slice(value.as_bytes());
    }
    block
}

async fn serve(mut tcp: TcpStream, app: &App, peer: &Peer) -> std::io::Result<()> {
    let mut preface = [0u8; 24];
    tcp.read_exact(&mut preface).await?;
    let mut out = BytesMut::new();
    frame(&mut out, SETTINGS, 0, 0, &[]);
    tcp.write_all(&out).await?;
    let mut input = BytesMut::with_capacity(4096);
    let mut body: Option<(u32, ResponseBody)> = None;
    let mut header_stream: Option<u32> = None;
    loop {
        out.clear();
        // Parse every complete frame in the input.
        while input.len() >= 9 {
            let len = u32::from_be_bytes([0, input[0], input[1], input[2]]) as usize;
            if len > MAX_FRAME {
                return Ok(());
            }
            if input.len() < 9 + len {
                break;
            }
            let (kind, flags) = (input[3], input[4]);
            let stream = u32::from_be_bytes([input[5], input[6], input[7], input[8]]) & 0x7fff_ffff;
            input.advance(9);
            let payload = input.split_to(len);
            match kind {
                SETTINGS if flags & ACK == 0 => frame(&mut out, SETTINGS, ACK, 0, &[]),
                PING if flags & ACK == 0 => frame(&mut out, PING, ACK, 0, &payload),
                GOAWAY => return Ok(()),
                // A client that rejects the malformed head resets the stream: drop it but keep
                // the connection, as a real server would. Closing here races the client's own
                // writes (RST_STREAM, WINDOW_UPDATE) and turns its stream error into a broken pipe.
                RST_STREAM if body.as_ref().is_some_and(|(s, _)| *s == stream) => body = None,
                HEADERS | CONTINUATION => {
                    header_stream = header_stream.or(Some(stream));
                    if flags & END_HEADERS == 0 || body.is_some() {
                        continue;
                    }
                    let Some(id) = header_stream.take() else {
                        continue;
                    };
                    match events::open(app, peer, None, Topics::default(), Version::HTTP_2) {
                        Opened::Stream(stream_body, resume) => {
                            let mut headers = HeaderMap::new();
                            events::stream_headers(
                                app,
                                &HeaderMap::new(),
                                &mut headers,
                                resume.header(),
                            );
                            headers.insert("connection", HeaderValue::from_static("keep-alive"));
                            frame(&mut out, HEADERS, END_HEADERS, id, &header_block(&headers));
                            body = Some((id, stream_body));
                        }
                        Opened::OverCapacity => {
                            frame(&mut out, RST_STREAM, 0, id, &7u32.to_be_bytes());
                        }
                    }
                }
                _ => {}
            }
        }
        if !out.is_empty() {
            tcp.write_all(&out).await?;
            out.clear();
        }
        let next = async {
            match body.as_mut() {
                Some((_, b)) => b.frame().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = tcp.read_buf(&mut input) => {
                if read? == 0 {
                    return Ok(());
                }
            }
            chunk = next => {
                let Some((id, _)) = body.as_ref() else { continue };
                let id = *id;
                match chunk.and_then(|f| f.ok()).and_then(|f| f.into_data().ok()) {
                    Some(data) => data_frames(&mut out, id, data),
                    None => {
                        frame(&mut out, DATA, END_STREAM, id, &[]);
                        let mut goaway = [0u8; 8];
                        goaway[..4].copy_from_slice(&id.to_be_bytes());
                        frame(&mut out, GOAWAY, 0, 0, &goaway);
                        tcp.write_all(&out).await?;
                        return Ok(());
                    }
                }
                tcp.write_all(&out).await?;
            }
        }
    }
}

fn data_frames(out: &mut BytesMut, stream: u32, data: Bytes) {
    for piece in data.chunks(MAX_FRAME) {
        frame(out, DATA, 0, stream, piece);
    }
}
