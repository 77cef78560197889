#![doc = include_str!("../README.md")]
//! Sans-I/O readers for bytes from servers nobody vetted, split out of the `ssekit check`
//! runner so they can be fuzzed without its I/O stack (tokio, hyper, rustls):
//!
//! - [`h2`]: HTTP/2 frames, HPACK, and [`h2::head::HeadReader`], which reads stream 1's final
//!   response head as the server sent it (H06 names the connection-specific fields hyper
//!   rejects);
//! - [`chunked`]: [`chunked::validate_chunked`], the HTTP/1.1 chunked-framing check behind T03.
//!
//! Every reader is bounded: whatever a server sends, it costs at most a few hundred KiB and
//! time linear in its length.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chunked;
pub mod h2;

/// `text` escaped as Rust would debug-print it (so control bytes are visible), cut at `max`
/// characters with an ellipsis.
///
/// ```
/// assert_eq!(ssekit_wire::show("a\u{1}b", 10), "a\\u{1}b");
/// assert_eq!(ssekit_wire::show("abcdef", 3), "abc…");
/// ```
pub fn show(text: &str, max: usize) -> String {
    let escaped: String = text.escape_debug().collect();
    if escaped.chars().count() <= max {
        return escaped;
    }
    let mut out: String = escaped.chars().take(max).collect();
    out.push('…');
    out
}
