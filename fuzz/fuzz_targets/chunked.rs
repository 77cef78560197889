//! Any captured HTTP/1.1 response through T03's chunked-framing validator: no panic; a chunk
//! count no larger than the body allows (each chunk takes at least 6 bytes); and, since a
//! capture may be cut anywhere, cutting a capture never makes valid framing invalid nor changes
//! how the body is framed.
//!
//! Input: 2 bytes (little-endian) saying where to cut (modulo the rest's length + 1), then the
//! response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssekit_wire::chunked::{validate_chunked, Chunked};

fuzz_target!(|data: &[u8]| {
    let Some((cut, raw)) = data.split_first_chunk::<2>() else {
        return;
    };
    let whole = validate_chunked(raw);
    if let Chunked::Valid(n) = whole {
        assert!(n <= raw.len() / 6, "{n} chunks in {} bytes", raw.len());
    }
    let cut = usize::from(u16::from_le_bytes(*cut)) % (raw.len() + 1);
    let prefix = &raw[..cut];
    if !prefix.windows(4).any(|w| w == b"\r\n\r\n") {
        return;
    }
    let part = validate_chunked(prefix);
    match (&whole, &part) {
        (Chunked::Valid(n), Chunked::Valid(m)) => assert!(m <= n),
        (Chunked::Valid(_), _) => panic!("{whole:?} but cut at {cut}: {part:?}"),
        (Chunked::NotChunked(_), _) | (_, Chunked::NotChunked(_)) => assert_eq!(whole, part),
        (Chunked::Invalid(_), _) => {}
    }
});
