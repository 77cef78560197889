//! HTTP/2 frame layout (RFC 9113 §4.1, §6): the 9-byte frame header, the frames the raw client
//! writes, and the padding/priority prefix of a HEADERS payload. Pure functions over bytes.

/// What a client sends first on an HTTP/2 connection (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Bytes in a frame header.
pub const HEADER_LEN: usize = 9;
/// The largest payload a peer may send: the default SETTINGS_MAX_FRAME_SIZE, which the raw
/// client never raises, so anything larger is a broken or hostile server.
pub const MAX_PAYLOAD: usize = 16_384;

/// Frame types (RFC 9113 §6).
pub const DATA: u8 = 0x0;
/// HEADERS.
pub const HEADERS: u8 = 0x1;
/// RST_STREAM.
pub const RST_STREAM: u8 = 0x3;
/// SETTINGS.
pub const SETTINGS: u8 = 0x4;
/// PUSH_PROMISE.
pub const PUSH_PROMISE: u8 = 0x5;
/// PING.
pub const PING: u8 = 0x6;
/// GOAWAY.
pub const GOAWAY: u8 = 0x7;
/// CONTINUATION.
pub const CONTINUATION: u8 = 0x9;

/// END_STREAM (DATA, HEADERS); ACK (SETTINGS, PING) uses the same bit.
pub const END_STREAM: u8 = 0x1;
/// ACK (SETTINGS, PING).
pub const ACK: u8 = 0x1;
/// END_HEADERS (HEADERS, CONTINUATION).
pub const END_HEADERS: u8 = 0x4;
/// PADDED (DATA, HEADERS).
pub const PADDED: u8 = 0x8;
/// PRIORITY (HEADERS).
pub const PRIORITY: u8 = 0x20;

/// SETTINGS_ENABLE_PUSH (RFC 9113 §6.5.2).
pub const SETTINGS_ENABLE_PUSH: u16 = 0x2;
/// CANCEL (RFC 9113 §7).
pub const CANCEL: u32 = 0x8;

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length.
    pub len: usize,
    /// Frame type.
    pub kind: u8,
    /// Flags.
    pub flags: u8,
    /// Stream identifier (reserved bit cleared).
    pub stream: u32,
}

/// The frame header at the start of `bytes`, or `None` while fewer than 9 bytes are there.
///
/// ```
/// use ssekit_wire::h2::frame::{encode, parse_header, PING};
/// let mut out = Vec::new();
/// encode(&mut out, PING, 0, 0, &[0; 8]);
/// let h = parse_header(&out).unwrap();
/// assert_eq!((h.kind, h.len, h.stream), (PING, 8, 0));
/// assert_eq!(parse_header(&out[..8]), None);
/// ```
pub fn parse_header(bytes: &[u8]) -> Option<FrameHeader> {
    let head: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
    Some(FrameHeader {
        len: u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize,
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
    })
}

/// Appends one frame. `payload` must fit the peer's frame size (callers split header blocks).
pub fn encode(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_PAYLOAD);
    let len = (payload.len() as u32).to_be_bytes();
    out.extend_from_slice(&len[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Appends a header block as one HEADERS frame plus as many CONTINUATION frames as it needs.
pub fn encode_header_block(out: &mut Vec<u8>, stream: u32, block: &[u8], end_stream: bool) {
    // An empty block still needs its one HEADERS frame.
    let pieces: Vec<&[u8]> = if block.is_empty() {
        vec![block]
    } else {
        block.chunks(MAX_PAYLOAD).collect()
    };
    let last = pieces.len() - 1;
    for (i, piece) in pieces.into_iter().enumerate() {
        let kind = if i == 0 { HEADERS } else { CONTINUATION };
        let mut flags = if i == last { END_HEADERS } else { 0 };
        if i == 0 && end_stream {
            flags |= END_STREAM;
        }
        encode(out, kind, flags, stream, piece);
    }
}

/// Why a frame's payload cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The PADDED or PRIORITY prefix claims more bytes than the payload has (RFC 9113 §6.2).
    #[error("HEADERS padding or priority longer than its payload")]
    BadPadding,
}

/// The header block fragment of a HEADERS payload, without its pad length, priority fields and
/// padding.
///
/// ```
/// use ssekit_wire::h2::frame::{header_fragment, FrameError, PADDED};
/// // Pad length 2, the fragment [0x88], then two bytes of padding.
/// assert_eq!(header_fragment(PADDED, &[2, 0x88, 0, 0]), Ok(&[0x88u8][..]));
/// assert_eq!(header_fragment(PADDED, &[9, 0x88]), Err(FrameError::BadPadding));
/// ```
pub fn header_fragment(flags: u8, payload: &[u8]) -> Result<&[u8], FrameError> {
    let mut rest = payload;
    let mut pad = 0usize;
    if flags & PADDED != 0 {
        let (&len, tail) = rest.split_first().ok_or(FrameError::BadPadding)?;
        pad = usize::from(len);
        rest = tail;
    }
    if flags & PRIORITY != 0 {
        rest = rest.get(5..).ok_or(FrameError::BadPadding)?;
    }
    let end = rest.len().checked_sub(pad).ok_or(FrameError::BadPadding)?;
    Ok(&rest[..end])
}

/// The error code of a RST_STREAM or GOAWAY payload (at `offset`), 0 when it is too short.
pub fn error_code(payload: &[u8], offset: usize) -> u32 {
    payload
        .get(offset..offset + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let mut out = Vec::new();
        encode(&mut out, PING, ACK, 0x8000_0003, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&out[..9], &[0, 0, 8, 6, 1, 0, 0, 0, 3]);
        let h = parse_header(&out).unwrap();
        assert_eq!(
            h,
            FrameHeader {
                len: 8,
                kind: PING,
                flags: ACK,
                stream: 3
            }
        );
        assert_eq!(parse_header(&out[..8]), None);
    }

    #[test]
    fn the_reserved_bit_and_large_lengths_are_read() {
        let h = parse_header(&[0xff, 0xff, 0xff, 1, 0, 0xff, 0xff, 0xff, 0xff]).unwrap();
        assert_eq!(h.len, 0xff_ffff);
        assert_eq!(h.stream, 0x7fff_ffff);
    }

    #[test]
    fn a_large_block_is_split_into_continuations() {
        let block = vec![7u8; MAX_PAYLOAD + 10];
        let mut out = Vec::new();
        encode_header_block(&mut out, 1, &block, true);
        let first = parse_header(&out).unwrap();
        assert_eq!(
            (first.kind, first.flags, first.len),
            (HEADERS, END_STREAM, MAX_PAYLOAD)
        );
        let second = parse_header(&out[HEADER_LEN + MAX_PAYLOAD..]).unwrap();
        assert_eq!(
            (second.kind, second.flags, second.len),
            (CONTINUATION, END_HEADERS, 10)
        );
        assert_eq!(out.len(), 2 * HEADER_LEN + block.len());
    }

    #[test]
    fn a_small_block_is_one_frame() {
        let mut out = Vec::new();
        encode_header_block(&mut out, 1, &[0x82], true);
        assert_eq!(
            out,
            [0, 0, 1, HEADERS, END_STREAM | END_HEADERS, 0, 0, 0, 1, 0x82]
        );
    }

    #[test]
    fn padding_and_priority_are_stripped() {
        assert_eq!(header_fragment(0, &[1, 2]), Ok(&[1u8, 2][..]));
        assert_eq!(header_fragment(PADDED, &[2, 9, 0, 0]), Ok(&[9u8][..]));
        let prio = [0, 0, 0, 3, 16, 0x88];
        assert_eq!(header_fragment(PRIORITY, &prio), Ok(&[0x88u8][..]));
        let both = [1, 0, 0, 0, 3, 16, 0x88, 0];
        assert_eq!(header_fragment(PADDED | PRIORITY, &both), Ok(&[0x88u8][..]));
    }

    #[test]
    fn hostile_padding_is_an_error() {
        assert_eq!(header_fragment(PADDED, &[]), Err(FrameError::BadPadding));
        assert_eq!(
            header_fragment(PADDED, &[5, 1]),
            Err(FrameError::BadPadding)
        );
        assert_eq!(
            header_fragment(PRIORITY, &[0, 0]),
            Err(FrameError::BadPadding)
        );
    }

    #[test]
    fn error_codes() {
        assert_eq!(error_code(&[0, 0, 0, 1], 0), 1);
        assert_eq!(error_code(&[0, 0, 0, 3, 0, 0, 0, 2], 4), 2);
        assert_eq!(error_code(&[0, 0], 0), 0);
    }
}
