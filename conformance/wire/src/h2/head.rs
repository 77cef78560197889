//! The response head of stream 1, read from a server's bytes without I/O: bytes in, the frames
//! the connection owes (SETTINGS and PING acknowledgements) out, and once the final head is
//! complete, its decoded fields. Every buffer is capped, so a hostile server costs at most a
//! few hundred KiB.

use loona_hpack::Decoder;

use super::frame::{self, FrameError, FrameHeader, HEADER_LEN, MAX_PAYLOAD};
use super::hpack::{self, Field, HpackError};

/// The one stream the raw client opens.
pub const STREAM: u32 = 1;
/// Bytes the client reads before giving up on a head (SETTINGS, WINDOW_UPDATE, interim heads).
pub const MAX_INPUT: usize = 256 * 1024;
/// The largest header block (HEADERS plus CONTINUATION fragments) the client collects.
pub const MAX_BLOCK: usize = 64 * 1024;

/// Why no head was read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HeadError {
    /// A frame longer than the client allows.
    #[error("a frame of {0} bytes, over the {MAX_PAYLOAD}-byte maximum")]
    FrameTooLarge(usize),
    /// Too many bytes without a complete head.
    #[error("no response head within the first {MAX_INPUT} bytes")]
    TooMuchInput,
    /// A header block past the cap.
    #[error("a header block larger than {MAX_BLOCK} bytes")]
    BlockTooLarge,
    /// Another frame arrived inside a header block (RFC 9113 §6.10).
    #[error("frame type {0:#x} inside a header block")]
    Interleaved(u8),
    /// CONTINUATION with no open header block.
    #[error("CONTINUATION without HEADERS before it")]
    StrayContinuation,
    /// A header block the client did not ask for (push is off; only stream 1 is open).
    #[error("unexpected frame type {kind:#x} on stream {stream}")]
    Unexpected {
        /// Frame type.
        kind: u8,
        /// Stream identifier.
        stream: u32,
    },
    /// The server reset stream 1.
    #[error("the server reset the stream (error code {0:#x})")]
    Reset(u32),
    /// The server closed the connection.
    #[error("the server sent GOAWAY (error code {0:#x})")]
    GoAway(u32),
    /// A HEADERS payload with a broken prefix.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A header block that does not decode.
    #[error(transparent)]
    Hpack(#[from] HpackError),
}

/// Reads frames until stream 1's final response head.
///
/// ```
/// use ssekit_wire::h2::frame::{encode, END_HEADERS, HEADERS, SETTINGS};
/// use ssekit_wire::h2::head::HeadReader;
/// use ssekit_wire::h2::hpack::Field;
///
/// let mut server = Vec::new();
/// encode(&mut server, SETTINGS, 0, 0, &[]);
/// encode(&mut server, HEADERS, END_HEADERS, 1, &[0x88]); // `:status: 200`, indexed
/// let mut reader = HeadReader::default();
/// let mut reply = Vec::new();
/// // Bytes may arrive in any pieces: nothing until the head is complete.
/// assert_eq!(reader.feed(&server[..12], &mut reply), Ok(None));
/// let head = reader.feed(&server[12..], &mut reply).unwrap();
/// assert_eq!(head, Some(vec![Field::new(":status", "200")]));
/// assert_eq!(reply, [0, 0, 0, SETTINGS, 1, 0, 0, 0, 0]); // the SETTINGS acknowledgement
/// ```
pub struct HeadReader {
    input: Vec<u8>,
    fed: usize,
    /// The header block being collected, from HEADERS until END_HEADERS.
    block: Option<Vec<u8>>,
    decoder: Decoder<'static>,
}

impl Default for HeadReader {
    fn default() -> Self {
        HeadReader {
            input: Vec::new(),
            fed: 0,
            block: None,
            decoder: hpack::decoder(),
        }
    }
}

impl HeadReader {
    /// Takes the next bytes from the server and appends to `reply` what the client owes it.
    /// Returns the final head's fields once they are complete.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        reply: &mut Vec<u8>,
    ) -> Result<Option<Vec<Field>>, HeadError> {
        self.fed = self.fed.saturating_add(bytes.len());
        if self.fed > MAX_INPUT {
            return Err(HeadError::TooMuchInput);
        }
        self.input.extend_from_slice(bytes);
        let input = std::mem::take(&mut self.input);
        let mut at = 0;
        let result = loop {
            let Some(header) = frame::parse_header(&input[at..]) else {
                break Ok(None);
            };
            if header.len > MAX_PAYLOAD {
                break Err(HeadError::FrameTooLarge(header.len));
            }
            let end = at + HEADER_LEN + header.len;
            let Some(payload) = input.get(at + HEADER_LEN..end) else {
                break Ok(None);
            };
            at = end;
            match self.frame(header, payload, reply) {
                Ok(None) => continue,
                done => break done,
            }
        };
        self.input = input;
        self.input.drain(..at);
        result
    }

    fn frame(
        &mut self,
        h: FrameHeader,
        payload: &[u8],
        reply: &mut Vec<u8>,
    ) -> Result<Option<Vec<Field>>, HeadError> {
        if self.block.is_some() {
            if h.kind != frame::CONTINUATION || h.stream != STREAM {
                return Err(HeadError::Interleaved(h.kind));
            }
            return self.extend_block(payload, h.flags);
        }
        match h.kind {
            frame::SETTINGS if h.flags & frame::ACK == 0 => {
                frame::encode(reply, frame::SETTINGS, frame::ACK, 0, &[]);
            }
            frame::PING if h.flags & frame::ACK == 0 => {
                frame::encode(reply, frame::PING, frame::ACK, 0, payload);
            }
            // A graceful GOAWAY that still covers stream 1 lets its response through.
            frame::GOAWAY if !graceful(payload) => {
                return Err(HeadError::GoAway(frame::error_code(payload, 4)));
            }
            frame::RST_STREAM if h.stream == STREAM => {
                return Err(HeadError::Reset(frame::error_code(payload, 0)));
            }
            frame::CONTINUATION => return Err(HeadError::StrayContinuation),
            // Push is off, so PUSH_PROMISE is as foreign as HEADERS on another stream; both
            // are ended on, since skipping their blocks would put the HPACK table out of step.
            frame::PUSH_PROMISE => return Err(unexpected(h)),
            frame::HEADERS if h.stream != STREAM => return Err(unexpected(h)),
            frame::HEADERS => {
                self.block = Some(Vec::new());
                return self.extend_block(frame::header_fragment(h.flags, payload)?, h.flags);
            }
            // WINDOW_UPDATE, PRIORITY, acknowledgements, unknown types (RFC 9113 §4.1: ignored).
            _ => {}
        }
        Ok(None)
    }

    fn extend_block(
        &mut self,
        fragment: &[u8],
        flags: u8,
    ) -> Result<Option<Vec<Field>>, HeadError> {
        let block = self.block.get_or_insert_with(Vec::new);
        if block.len() + fragment.len() > MAX_BLOCK {
            return Err(HeadError::BlockTooLarge);
        }
        block.extend_from_slice(fragment);
        if flags & frame::END_HEADERS == 0 {
            return Ok(None);
        }
        let block = self.block.take().unwrap_or_default();
        let fields = hpack::decode(&mut self.decoder, &block)?;
        // An interim (1xx) head is decoded for the HPACK table's sake and dropped: the final
        // head is the one a client acts on, and keeping only it bounds what is held.
        Ok((!is_interim(&fields)).then_some(fields))
    }
}

fn unexpected(h: FrameHeader) -> HeadError {
    HeadError::Unexpected {
        kind: h.kind,
        stream: h.stream,
    }
}

/// A GOAWAY with NO_ERROR whose last stream identifier still includes stream 1.
fn graceful(payload: &[u8]) -> bool {
    frame::error_code(payload, 4) == 0 && frame::error_code(payload, 0) & 0x7fff_ffff >= STREAM
}

/// A 1xx `:status`.
fn is_interim(fields: &[Field]) -> bool {
    fields
        .iter()
        .find(|f| f.name == b":status")
        .is_some_and(|f| f.value.len() == 3 && f.value[0] == b'1')
}

#[cfg(test)]
mod tests {
    use super::*;
    use frame::{encode, CONTINUATION, END_HEADERS, GOAWAY, HEADERS, PING, SETTINGS};

    /// `:status: 200` (static index 8), then `connection: keep-alive` as a plain literal.
    const BLOCK: [u8; 24] = [
        0x88, 0x00, 10, b'c', b'o', b'n', b'n', b'e', b'c', b't', b'i', b'o', b'n', 10, b'k', b'e',
        b'e', b'p', b'-', b'a', b'l', b'i', b'v', b'e',
    ];

    fn want() -> Vec<Field> {
        vec![
            Field::new(":status", "200"),
            Field::new("connection", "keep-alive"),
        ]
    }

    #[test]
    fn settings_are_acknowledged_and_the_head_decoded() {
        let mut input = Vec::new();
        encode(&mut input, SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
        encode(&mut input, 0x8, 0, 0, &[0, 0, 0x10, 0]);
        encode(&mut input, HEADERS, END_HEADERS, 1, &BLOCK);
        let mut reply = Vec::new();
        let head = HeadReader::default().feed(&input, &mut reply).unwrap();
        assert_eq!(head, Some(want()));
        assert_eq!(reply, [0, 0, 0, SETTINGS, frame::ACK, 0, 0, 0, 0]);
    }

    #[test]
    fn bytes_may_arrive_one_at_a_time() {
        let mut input = Vec::new();
        encode(&mut input, PING, 0, 0, &[1, 2, 3, 4, 5, 6, 7, 8]);
        encode(&mut input, HEADERS, 0, 1, &BLOCK[..5]);
        encode(&mut input, CONTINUATION, END_HEADERS, 1, &BLOCK[5..]);
        let mut reader = HeadReader::default();
        let mut reply = Vec::new();
        let (last, rest) = input.split_last().unwrap();
        for b in rest {
            assert_eq!(reader.feed(&[*b], &mut reply), Ok(None));
        }
        assert_eq!(reader.feed(&[*last], &mut reply), Ok(Some(want())));
        assert_eq!(reply[3..5], [PING, frame::ACK]);
    }

    #[test]
    fn an_interim_head_is_skipped() {
        let mut input = Vec::new();
        // `:status: 103` as a literal with an indexed name (static index 8's name).
        encode(
            &mut input,
            HEADERS,
            END_HEADERS,
            1,
            &[0x08, 3, b'1', b'0', b'3'],
        );
        encode(&mut input, HEADERS, END_HEADERS, 1, &BLOCK);
        let head = HeadReader::default().feed(&input, &mut Vec::new());
        assert_eq!(head, Ok(Some(want())));
    }

    #[test]
    fn resets_and_goaway_end_the_read() {
        let mut input = Vec::new();
        encode(&mut input, frame::RST_STREAM, 0, 1, &[0, 0, 0, 7]);
        let got = HeadReader::default().feed(&input, &mut Vec::new());
        assert_eq!(got, Err(HeadError::Reset(7)));

        let mut input = Vec::new();
        encode(&mut input, GOAWAY, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0]);
        encode(&mut input, GOAWAY, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 2]);
        let got = HeadReader::default().feed(&input, &mut Vec::new());
        assert_eq!(got, Err(HeadError::GoAway(2)));
    }

    #[test]
    fn hostile_framing_is_an_error() {
        let oversized = [0, 0x40, 1, HEADERS, 0, 0, 0, 0, 1];
        let got = HeadReader::default().feed(&oversized, &mut Vec::new());
        assert_eq!(got, Err(HeadError::FrameTooLarge(MAX_PAYLOAD + 1)));

        let mut input = Vec::new();
        encode(&mut input, HEADERS, 0, 1, &BLOCK[..5]);
        encode(&mut input, PING, 0, 0, &[0; 8]);
        let got = HeadReader::default().feed(&input, &mut Vec::new());
        assert_eq!(got, Err(HeadError::Interleaved(PING)));

        let mut input = Vec::new();
        encode(&mut input, CONTINUATION, END_HEADERS, 1, &BLOCK);
        let got = HeadReader::default().feed(&input, &mut Vec::new());
        assert_eq!(got, Err(HeadError::StrayContinuation));

        let mut input = Vec::new();
        encode(&mut input, HEADERS, END_HEADERS, 2, &BLOCK);
        let got = HeadReader::default().feed(&input, &mut Vec::new());
        assert!(matches!(got, Err(HeadError::Unexpected { stream: 2, .. })));
    }

    #[test]
    fn endless_continuations_hit_the_block_cap() {
        let mut reader = HeadReader::default();
        let mut input = Vec::new();
        encode(&mut input, HEADERS, 0, 1, &[0x88]);
        let piece = vec![0x88; MAX_PAYLOAD];
        let mut got = reader.feed(&input, &mut Vec::new());
        while got == Ok(None) {
            input.clear();
            encode(&mut input, CONTINUATION, 0, 1, &piece);
            got = reader.feed(&input, &mut Vec::new());
        }
        assert_eq!(got, Err(HeadError::BlockTooLarge));
    }

    #[test]
    fn endless_chatter_hits_the_input_cap() {
        let mut reader = HeadReader::default();
        let mut input = Vec::new();
        encode(&mut input, 0x8, 0, 0, &[0, 0, 0, 1]);
        let mut got = Ok(None);
        while got == Ok(None) {
            got = reader.feed(&input, &mut Vec::new());
        }
        assert_eq!(got, Err(HeadError::TooMuchInput));
    }
}
