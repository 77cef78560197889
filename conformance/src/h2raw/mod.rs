//! A raw HTTP/2 client that fetches one response head as the server sent it. hyper (through the
//! `h2` crate) rightly rejects a head with connection-specific fields as malformed and keeps no
//! trace of the fields; H06 uses this client to name them.
//!
//! The work is sans-I/O ([`frame`], [`hpack`], [`head`], in the `ssekit-wire` crate so the
//! fuzz targets reach them without this crate's I/O stack); this module only moves bytes, with
//! the whole exchange bounded by one timeout.

pub mod hpack;
pub use ssekit_wire::h2::{frame, head};

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::probe::{self, ProbeError, Proto, Request};
use crate::tls::Io;
use head::{HeadError, HeadReader, STREAM};
pub use hpack::Field;

/// Why the raw exchange produced no head.
#[derive(Debug, thiserror::Error)]
pub enum H2RawError {
    /// Connecting (TCP, TLS with ALPN h2) failed.
    #[error(transparent)]
    Connect(#[from] ProbeError),
    /// The socket failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection before the head.
    #[error("the connection closed before the response head")]
    Closed,
    /// The server's frames could not be read as a head.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// The exchange took longer than allowed.
    #[error("no response head within {0:?}")]
    Timeout(Duration),
}

/// Sends `req` on stream 1 of a new HTTP/2 connection (h2c prior knowledge for `http://`, TLS
/// with ALPN h2 for `https://`) and returns the final response head's fields, within `timeout`.
pub async fn response_head(req: &Request, timeout: Duration) -> Result<Vec<Field>, H2RawError> {
    let (mut io, fields) = tokio::time::timeout(timeout, exchange(req, timeout))
        .await
        .map_err(|_| H2RawError::Timeout(timeout))??;
    // Leave politely so the server does not stream an event body nobody reads; what it does
    // with that is not this client's concern, so the close gets a short bound of its own.
    let mut bye = Vec::new();
    frame::encode(
        &mut bye,
        frame::RST_STREAM,
        0,
        STREAM,
        &frame::CANCEL.to_be_bytes(),
    );
    frame::encode(&mut bye, frame::GOAWAY, 0, 0, &[0; 8]);
    let close = async {
        io.write_all(&bye).await?;
        io.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1).min(timeout), close).await;
    Ok(fields)
}

async fn exchange(
    req: &Request,
    timeout: Duration,
) -> Result<(Box<dyn Io>, Vec<Field>), H2RawError> {
    let mut io = probe::open(&req.uri, Proto::H2c, timeout).await?;
    io.write_all(&opening(req)).await?;
    let mut reader = HeadReader::default();
    let mut buf = vec![0u8; 16 * 1024];
    let mut reply = Vec::new();
    loop {
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return Err(H2RawError::Closed);
        }
        reply.clear();
        let head = reader.feed(&buf[..n], &mut reply);
        if !reply.is_empty() {
            io.write_all(&reply).await?;
        }
        if let Some(fields) = head? {
            return Ok((io, fields));
        }
    }
}

/// What the client writes first: the preface, SETTINGS with push disabled (a pushed header
/// block would have to be decoded too), and the request's HEADERS ending the stream.
pub fn opening(req: &Request) -> Vec<u8> {
    let mut out = frame::PREFACE.to_vec();
    let mut no_push = frame::SETTINGS_ENABLE_PUSH.to_be_bytes().to_vec();
    no_push.extend_from_slice(&0u32.to_be_bytes());
    frame::encode(&mut out, frame::SETTINGS, 0, 0, &no_push);
    let block = hpack::encode(&hpack::request_fields(req));
    frame::encode_header_block(&mut out, STREAM, &block, true);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_opening_is_preface_settings_and_one_request() {
        let uri = "http://127.0.0.1:1/stream".parse().unwrap();
        let out = opening(&Request::sse(uri, &http::HeaderMap::new()));
        assert_eq!(&out[..24], frame::PREFACE);
        let settings = frame::parse_header(&out[24..]).unwrap();
        assert_eq!((settings.kind, settings.len), (frame::SETTINGS, 6));
        assert_eq!(&out[33..39], &[0, 2, 0, 0, 0, 0]);
        let headers = frame::parse_header(&out[39..]).unwrap();
        assert_eq!(headers.kind, frame::HEADERS);
        assert_eq!(headers.flags, frame::END_HEADERS | frame::END_STREAM);
        assert_eq!(headers.stream, 1);
        let block = &out[48..];
        assert_eq!(block.len(), headers.len);
        let fields = hpack::decode(&mut hpack::decoder(), block).unwrap();
        assert_eq!(fields[0], Field::new(":method", "GET"));
        assert_eq!(fields[3], Field::new(":path", "/stream"));
    }
}
