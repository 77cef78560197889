//! HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), checked over a raw response as captured:
//! the head, then as much of the body as arrived in the capture window, usually cut mid-stream.

use crate::show;

/// What [`validate_chunked`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunked {
    /// Framing valid as far as it goes (the count of complete chunks seen).
    Valid(usize),
    /// Not chunked: how the body is framed.
    NotChunked(String),
    /// A framing error, described for the report.
    Invalid(String),
}

/// The most hex digits a chunk size may have here: 16 fill a `u64`; more cannot be a real size.
const MAX_SIZE_DIGITS: usize = 16;

/// Validates the chunked framing of a raw HTTP/1.1 response. The capture may end anywhere: a
/// body cut mid-chunk is valid as far as it goes, so only bytes that arrived can be wrong.
/// Chunk extensions are reported as invalid (an SSE server has no use for them, and some
/// clients reject them); trailer fields after the last chunk are allowed.
///
/// ```
/// use ssekit_wire::chunked::{validate_chunked, Chunked};
///
/// let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nab";
/// assert_eq!(validate_chunked(raw), Chunked::Valid(1));
///
/// let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!\r\n";
/// assert!(matches!(validate_chunked(bad), Chunked::Invalid(_)));
/// ```
pub fn validate_chunked(raw: &[u8]) -> Chunked {
    let Some(head_end) = find(raw, b"\r\n\r\n") else {
        return Chunked::Invalid("no complete response head".into());
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let chunked = head
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    if !chunked {
        let how = if head.contains("content-length:") {
            "Content-Length"
        } else {
            "close-delimited"
        };
        return Chunked::NotChunked(how.into());
    }
    body(&raw[head_end + 4..])
}

/// The chunks after the head.
fn body(mut rest: &[u8]) -> Chunked {
    let mut chunks = 0;
    loop {
        let Some(eol) = find(rest, b"\r\n") else {
            return Chunked::Valid(chunks);
        };
        let size = match chunk_size(&rest[..eol]) {
            Ok(size) => size,
            Err(why) => return Chunked::Invalid(why),
        };
        rest = &rest[eol + 2..];
        if size == 0 {
            return trailer(rest, chunks);
        }
        // `size` may be anything up to u64::MAX: compare without adding to it.
        let Some(data) = rest.len().checked_sub(2) else {
            return Chunked::Valid(chunks);
        };
        if (data as u64) < size {
            return Chunked::Valid(chunks);
        }
        let size = size as usize; // at most `data`, so it fits
        if &rest[size..size + 2] != b"\r\n" {
            return Chunked::Invalid(format!(
                "chunk {chunks} of {size} bytes not followed by CRLF"
            ));
        }
        rest = &rest[size + 2..];
        chunks += 1;
    }
}

/// A chunk-size line: hex digits only (no sign, no spaces, no extension).
fn chunk_size(line: &[u8]) -> Result<u64, String> {
    let text = || show(&String::from_utf8_lossy(line), 40);
    if line.contains(&b';') {
        return Err(format!("chunk extension: {}", text()));
    }
    // `u64::from_str_radix` would take a leading `+`, which no HTTP parser accepts.
    if line.is_empty() || !line.iter().all(u8::is_ascii_hexdigit) {
        return Err(format!("bad chunk-size line \"{}\"", text()));
    }
    if line.len() > MAX_SIZE_DIGITS {
        return Err(format!("chunk size \"{}\" overflows 64 bits", text()));
    }
    let digits = std::str::from_utf8(line).map_err(|_| text())?;
    u64::from_str_radix(digits, 16).map_err(|_| format!("bad chunk-size line \"{}\"", text()))
}

/// What follows the last (zero-size) chunk: trailer field lines, then an empty line, then
/// nothing (the response is over).
fn trailer(mut rest: &[u8], chunks: usize) -> Chunked {
    loop {
        let Some(eol) = find(rest, b"\r\n") else {
            return Chunked::Valid(chunks);
        };
        let line = &rest[..eol];
        rest = &rest[eol + 2..];
        if !line.is_empty() && !line.contains(&b':') {
            return Chunked::Invalid(format!(
                "trailer line without a colon after the last chunk: \"{}\"",
                show(&String::from_utf8_lossy(line), 40)
            ));
        }
        if line.is_empty() {
            break;
        }
    }
    if rest.is_empty() {
        return Chunked::Valid(chunks);
    }
    Chunked::Invalid(format!(
        "{} bytes after the terminating zero-length chunk",
        rest.len()
    ))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";

    fn with_head(body: &[u8]) -> Vec<u8> {
        [HEAD, body].concat()
    }

    #[test]
    fn chunked_framing() {
        let ok = with_head(b"5\r\nhello\r\n3\r\nabc\r\n");
        assert_eq!(validate_chunked(&ok), Chunked::Valid(2));
        let truncated = with_head(b"5\r\nhel");
        assert_eq!(validate_chunked(&truncated), Chunked::Valid(0));
        let ext = with_head(b"5;x=y\r\nhello\r\n");
        assert!(matches!(validate_chunked(&ext), Chunked::Invalid(_)));
        let early_end = with_head(b"0\r\n\r\n5\r\nhello\r\n");
        assert!(matches!(validate_chunked(&early_end), Chunked::Invalid(_)));
        let cl = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(
            validate_chunked(cl),
            Chunked::NotChunked("Content-Length".into())
        );
    }

    #[test]
    fn the_end_of_the_body() {
        assert_eq!(
            validate_chunked(&with_head(b"0\r\n\r\n")),
            Chunked::Valid(0)
        );
        assert_eq!(validate_chunked(&with_head(b"0\r\n")), Chunked::Valid(0));
        let trailers = with_head(b"1\r\na\r\n0\r\nx-done: 1\r\n\r\n");
        assert_eq!(validate_chunked(&trailers), Chunked::Valid(1));
        let junk = with_head(b"0\r\nnot a field\r\n\r\n");
        assert!(matches!(validate_chunked(&junk), Chunked::Invalid(_)));
    }

    #[test]
    fn hostile_sizes_are_errors_not_panics() {
        for body in [
            &b"ffffffffffffffff\r\nab\r\n"[..],
            b"fffffffffffffffff\r\n",
            b"+5\r\nhello\r\n",
            b" 5\r\nhello\r\n",
            b"\r\n",
            b"\xff\r\n",
        ] {
            let got = validate_chunked(&with_head(body));
            let ok = matches!(got, Chunked::Invalid(_) | Chunked::Valid(0));
            assert!(ok, "{body:?}: {got:?}");
        }
        let huge = with_head(b"ffffffffffffffff\r\nab\r\n");
        assert_eq!(validate_chunked(&huge), Chunked::Valid(0));
        let sign = with_head(b"+5\r\nhello\r\n");
        assert!(matches!(validate_chunked(&sign), Chunked::Invalid(_)));
    }
}
