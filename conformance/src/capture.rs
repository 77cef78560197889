//! What one response body showed, read by the strict parser and by a byte scanner of its own:
//! timed events, retries, comments, ignored lines, line-end styles, field names, UTF-8 and BOM
//! problems, sizes, and how the stream ended. Checks judge captures; captures never judge.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, Instant};

use flate2::write::{GzDecoder, MultiGzDecoder, ZlibDecoder};

use ssekit_parser::{EndOfStream, Frame, IgnoreReason, Limits, OwnedEvent, Parser};

use crate::probe::{Next, Response};

/// Keeps memory bounded whatever the server sends.
const MAX_KEPT: usize = 100_000;
const MAX_NOTES: usize = 64;

/// Something observed at an instant.
#[derive(Debug, Clone)]
pub struct Seen<T> {
    /// When the read that completed it arrived.
    pub at: Instant,
    /// What was observed.
    pub value: T,
}

/// How a captured body ended.
#[derive(Debug, Clone)]
pub enum End {
    /// The runner stopped reading (window over); the stream was still open.
    Open,
    /// The server ended the body cleanly, with what the parser had pending.
    Eof(Instant, EndOfStream),
    /// The connection broke mid-body, with what the parser had pending then.
    Error(Instant, String, EndOfStream),
}

/// Line-end styles seen (`\n`, `\r\n`, lone `\r`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineEnds {
    /// Lines ended by LF alone.
    pub lf: u64,
    /// Lines ended by CRLF.
    pub crlf: u64,
    /// Lines ended by a lone CR.
    pub cr: u64,
}

impl LineEnds {
    /// The style most lines use, and whether a *different single-byte* terminator also occurs:
    /// the signature of a raw CR or LF leaking out of a value and splitting its line.
    pub fn stray(&self) -> Option<&'static str> {
        let dominant = [(self.lf, "LF"), (self.crlf, "CRLF"), (self.cr, "CR")]
            .into_iter()
            .max_by_key(|(n, _)| *n)
            .map(|(_, s)| s)?;
        match dominant {
            "LF" if self.cr > 0 => Some("lone CR in an LF stream"),
            "CRLF" if self.cr > 0 => Some("lone CR in a CRLF stream"),
            "CRLF" if self.lf > 0 => Some("lone LF in a CRLF stream"),
            "CR" if self.lf > 0 || self.crlf > 0 => Some("LF in a CR stream"),
            _ => None,
        }
    }

    /// `"LF 12, CRLF 0, CR 1"`.
    pub fn describe(&self) -> String {
        format!("LF {}, CRLF {}, CR {}", self.lf, self.crlf, self.cr)
    }
}

/// The byte scanner's state and findings (independent of the parser).
#[derive(Debug, Default)]
struct Scan {
    pending_cr: bool,
    line_len: usize,
    name: Vec<u8>,
    name_done: bool,
    block_has_data: bool,
    block_has_event: bool,
    block_has_id: bool,
    block_bytes: usize,
    block_styles: u8,
    utf8_carry: Vec<u8>,
    offset: u64,
}

/// Decoded bytes are handed on in pieces of at most this many, so what one read decodes to
/// never sits in memory whole.
const DECODE_PIECE: usize = 32 * 1024;
/// Decoded bytes allowed per encoded byte (plus [`DECODE_SLACK`]) before decoding stops: event
/// streams compress maybe 5-50 fold, so past this the body is a decompression bomb, and judging
/// it would only burn time.
const MAX_EXPANSION: u64 = 1024;
const DECODE_SLACK: u64 = 1 << 20;
/// The zstd window a browser accepts (Chromium: 8 MiB; RFC 8878 §3.1.1.1.2 asks decoders for at
/// least that much): a frame asking for more fails here as it would there, and the decoder's
/// memory stays at that.
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

type BrotliState = brotli_decompressor::BrotliState<
    brotli_decompressor::StandardAlloc,
    brotli_decompressor::StandardAlloc,
    brotli_decompressor::StandardAlloc,
>;

/// A compressed body is judged as a browser reads it: decoded, in every coding a browser
/// accepts (`Accept-Encoding: gzip, deflate, br, zstd`). Each read is decoded as far as its
/// bytes go, so an event reaches the judge in the read that completed it and per-event timing
/// stays measurable. Whether the compressor flushes each event is H07's question, not the
/// framing checks'.
enum Decoding {
    Identity,
    Gzip(GzDecoder<Vec<u8>>),
    /// Every member of a gzip body: what the server sent, not what a browser reads.
    GzipMembers(MultiGzDecoder<Vec<u8>>),
    Deflate(ZlibDecoder<Vec<u8>>),
    Brotli(Box<BrotliState>),
    Zstd(Box<zstd::stream::raw::Decoder<'static>>),
    /// A gzip body that went on after its first member with another gzip header: browsers
    /// decode the first member only and drop the rest silently (Chromium's gzip stream ignores
    /// whatever follows the first trailer), and so does the runner. Holds the first member's
    /// file name and how many bytes were dropped.
    AfterFirstMember {
        file_name: Option<Vec<u8>>,
        ignored: u64,
    },
    /// The body did not decode; nothing more is judged.
    Failed,
}

/// The two bytes every gzip member starts with (RFC 1952 §2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

impl std::fmt::Debug for Decoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Decoding {
    fn for_encoding(encoding: Option<&str>) -> Self {
        match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
            Some("gzip" | "x-gzip") => Decoding::Gzip(GzDecoder::new(Vec::new())),
            Some("deflate") => Decoding::Deflate(ZlibDecoder::new(Vec::new())),
            Some("br") => Decoding::Brotli(Box::new(BrotliState::new(
                Default::default(),
                Default::default(),
                Default::default(),
            ))),
            Some("zstd") => {
                zstd_decoder().map_or(Decoding::Failed, |d| Decoding::Zstd(Box::new(d)))
            }
            _ => Decoding::Identity,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Decoding::Identity => "identity",
            Decoding::Gzip(_) | Decoding::GzipMembers(_) | Decoding::AfterFirstMember { .. } => {
                "gzip"
            }
            Decoding::Deflate(_) => "deflate",
            Decoding::Brotli(_) => "br",
            Decoding::Zstd(_) => "zstd",
            Decoding::Failed => "failed",
        }
    }

    fn gzip_file_name(&self) -> Option<&[u8]> {
        match self {
            Decoding::Gzip(d) => d.header().and_then(flate2::GzHeader::filename),
            Decoding::AfterFirstMember { file_name, .. } => file_name.as_deref(),
            _ => None,
        }
    }

    /// Bytes dropped after the first member of a gzip body that has several.
    fn ignored_after_first_member(&self) -> Option<u64> {
        match self {
            Decoding::AfterFirstMember { ignored, .. } => Some(*ignored),
            _ => None,
        }
    }

    /// Decodes what `bytes` completes, handing it to `out` in pieces of at most
    /// [`DECODE_PIECE`] bytes. `Err` once the body turns out not to be valid or decodes past
    /// the sink's budget; nothing is decoded after that.
    fn decode(&mut self, bytes: &[u8], out: &mut Sink<'_>) -> Result<(), String> {
        let done = match self {
            Decoding::Identity => out.put(bytes),
            Decoding::Failed => return Ok(()),
            Decoding::AfterFirstMember { ignored, .. } => {
                *ignored += bytes.len() as u64;
                return Ok(());
            }
            Decoding::Gzip(d) => match write_decode(d, GzDecoder::get_mut, bytes, out) {
                Err(Undecoded::AfterEnd(rest)) if starts_a_member(&bytes[bytes.len() - rest..]) => {
                    let file_name = self.gzip_file_name().map(<[u8]>::to_vec);
                    *self = Decoding::AfterFirstMember {
                        file_name,
                        ignored: rest as u64,
                    };
                    return Ok(());
                }
                other => other.map_err(|e| e.to_string()),
            },
            Decoding::GzipMembers(d) => {
                write_decode(d, MultiGzDecoder::get_mut, bytes, out).map_err(|e| e.to_string())
            }
            Decoding::Deflate(d) => {
                write_decode(d, ZlibDecoder::get_mut, bytes, out).map_err(|e| e.to_string())
            }
            Decoding::Brotli(state) => brotli_decode(state, bytes, out),
            Decoding::Zstd(d) => zstd_decode(d, bytes, out),
        };
        done.map_err(|e| {
            let why = format!("the {} body does not decode: {e}", self.name());
            *self = Decoding::Failed;
            why
        })
    }
}

/// Where decoded pieces go, with what is left of the body's expansion budget.
struct Sink<'a> {
    out: &'a mut dyn FnMut(&[u8]),
    left: u64,
}

impl Sink<'_> {
    fn put(&mut self, piece: &[u8]) -> Result<(), String> {
        let Some(left) = self.left.checked_sub(piece.len() as u64) else {
            return Err(format!(
                "it expands over {MAX_EXPANSION} times its size (a decompression bomb?); \
                 the rest was not judged"
            ));
        };
        self.left = left;
        (self.out)(piece);
        Ok(())
    }
}

/// A response body's content coding undone read by read, exactly as [`Capture`] does it: for
/// checks that read compressed bodies themselves (H07). Every coding a browser accepts (gzip,
/// deflate, br, zstd); each read decoded as far as its bytes go; memory bounded; decoding
/// stops past a 1024-fold expansion.
///
/// ```
/// use std::io::Write;
/// use ssekit_check::capture::BodyDecoder;
///
/// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
/// gz.write_all(b"data: hi\n\n")?;
/// gz.flush()?; // what an SSE server does after each event
/// let mut decoder = BodyDecoder::new("gzip").expect("a coding browsers accept");
/// let mut text = Vec::new();
/// decoder.decode(gz.get_ref(), &mut |piece| text.extend_from_slice(piece)).unwrap();
/// assert_eq!(text, b"data: hi\n\n");
/// assert!(BodyDecoder::new("identity").is_none());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct BodyDecoder {
    coding: Decoding,
    encoded: u64,
    decoded: u64,
}

impl std::fmt::Debug for BodyDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BodyDecoder({})", self.coding.name())
    }
}

impl BodyDecoder {
    /// A decoder for `Content-Encoding: coding`; `None` for identity and for codings no
    /// browser accepts (their bytes are the body as far as the runner can tell).
    pub fn new(coding: &str) -> Option<Self> {
        match Decoding::for_encoding(Some(coding)) {
            Decoding::Identity => None,
            coding => Some(BodyDecoder {
                coding,
                encoded: 0,
                decoded: 0,
            }),
        }
    }

    /// [`BodyDecoder::new`], except that a gzip body is decoded through every member it holds:
    /// what the server sent, where [`BodyDecoder::new`] reads what a browser reads (the first
    /// member only).
    pub fn every_member(coding: &str) -> Option<Self> {
        let mut decoder = Self::new(coding)?;
        if let Decoding::Gzip(_) = decoder.coding {
            decoder.coding = Decoding::GzipMembers(MultiGzDecoder::new(Vec::new()));
        }
        Some(decoder)
    }

    /// Decodes what `bytes` completes, handing it to `out` in pieces of at most 32 KiB. `Err`
    /// (once) when the body turns out not to be valid or to expand over 1024-fold; nothing is
    /// decoded after that.
    pub fn decode(&mut self, bytes: &[u8], out: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        self.encoded += bytes.len() as u64;
        let left = (MAX_EXPANSION * self.encoded + DECODE_SLACK).saturating_sub(self.decoded);
        let decoded = &mut self.decoded;
        let mut counted = |piece: &[u8]| {
            *decoded += piece.len() as u64;
            out(piece);
        };
        let mut sink = Sink {
            out: &mut counted,
            left,
        };
        self.coding.decode(bytes, &mut sink)
    }

    /// Decoded bytes so far.
    pub fn decoded(&self) -> u64 {
        self.decoded
    }

    /// The coding's name (`gzip`, `deflate`, `br`, `zstd`; `failed` once it failed).
    pub fn name(&self) -> &'static str {
        self.coding.name()
    }

    /// The file name in a gzip body's header (FNAME), once the header has arrived: a
    /// compressor's signature even when no compressed data follows it.
    pub fn gzip_file_name(&self) -> Option<&[u8]> {
        self.coding.gzip_file_name()
    }

    /// When a gzip body went on after its first member with another one: how many bytes
    /// followed, dropped as browsers drop them.
    pub fn ignored_after_first_member(&self) -> Option<u64> {
        self.coding.ignored_after_first_member()
    }
}

fn zstd_decoder() -> std::io::Result<zstd::stream::raw::Decoder<'static>> {
    let mut d = zstd::stream::raw::Decoder::new()?;
    d.set_parameter(zstd::stream::raw::DParameter::WindowLogMax(
        ZSTD_WINDOW_LOG_MAX,
    ))?;
    Ok(d)
}

/// gzip and deflate through flate2's writers: each `write` call decodes into the writer's own
/// 32 KiB buffer and moves the previous one into ours, so draining after each call keeps
/// memory bounded; `flush` then pushes out what the consumed bytes complete.
fn write_decode<W: Write>(
    d: &mut W,
    inner: fn(&mut W) -> &mut Vec<u8>,
    mut bytes: &[u8],
    out: &mut Sink<'_>,
) -> Result<(), Undecoded> {
    while !bytes.is_empty() {
        let n = d
            .write(bytes)
            .map_err(|e| Undecoded::Invalid(e.to_string()))?;
        drain(inner(d), out).map_err(Undecoded::Invalid)?;
        if n == 0 {
            return Err(Undecoded::AfterEnd(bytes.len()));
        }
        bytes = &bytes[n..];
    }
    d.flush().map_err(|e| Undecoded::Invalid(e.to_string()))?;
    drain(inner(d), out).map_err(Undecoded::Invalid)?;
    Ok(())
}

/// Why a flate2 writer stopped taking a read's bytes.
#[derive(Debug)]
enum Undecoded {
    /// The compressed stream had ended; this many bytes of the read were left.
    AfterEnd(usize),
    /// The bytes are not valid, or decode past the budget.
    Invalid(String),
}

impl std::fmt::Display for Undecoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undecoded::AfterEnd(n) => write!(f, "{n} bytes after the end of the stream"),
            Undecoded::Invalid(why) => f.write_str(why),
        }
    }
}

/// Whether `rest` begins a new gzip member (its magic, or the first byte of it when a read
/// ends there).
fn starts_a_member(rest: &[u8]) -> bool {
    let n = rest.len().min(GZIP_MAGIC.len());
    n > 0 && rest[..n] == GZIP_MAGIC[..n]
}

fn drain(buf: &mut Vec<u8>, out: &mut Sink<'_>) -> Result<(), String> {
    for piece in buf.chunks(DECODE_PIECE) {
        out.put(piece)?;
    }
    buf.clear();
    Ok(())
}

fn brotli_decode(state: &mut BrotliState, bytes: &[u8], out: &mut Sink<'_>) -> Result<(), String> {
    use brotli_decompressor::{BrotliDecompressStream, BrotliResult};
    let mut piece = [0u8; DECODE_PIECE];
    let (mut available_in, mut input_offset, mut total_out) = (bytes.len(), 0, 0);
    loop {
        let (mut available_out, mut output_offset) = (piece.len(), 0);
        let result = BrotliDecompressStream(
            &mut available_in,
            &mut input_offset,
            bytes,
            &mut available_out,
            &mut output_offset,
            &mut piece,
            &mut total_out,
            state,
        );
        out.put(&piece[..output_offset])?;
        match result {
            BrotliResult::NeedsMoreOutput => continue,
            BrotliResult::NeedsMoreInput => return Ok(()),
            BrotliResult::ResultSuccess if available_in == 0 => return Ok(()),
            BrotliResult::ResultSuccess => {
                return Err(format!("{available_in} bytes after the end of the stream"))
            }
            BrotliResult::ResultFailure => {
                return Err(format!("{:?}", state.error_code));
            }
        }
    }
}

fn zstd_decode(
    d: &mut zstd::stream::raw::Decoder<'static>,
    mut bytes: &[u8],
    out: &mut Sink<'_>,
) -> Result<(), String> {
    use zstd::stream::raw::Operation;
    let mut piece = vec![0u8; DECODE_PIECE];
    loop {
        let status = d
            .run_on_buffers(bytes, &mut piece)
            .map_err(|e| e.to_string())?;
        out.put(&piece[..status.bytes_written])?;
        bytes = &bytes[status.bytes_read..];
        // A full output buffer may mean more is waiting; otherwise all that the input
        // completes is out.
        if bytes.is_empty() && status.bytes_written < piece.len() {
            return Ok(());
        }
    }
}

/// Everything observed on one response body.
#[derive(Debug)]
pub struct Capture {
    parser: Parser,
    scan: Scan,
    /// The content coding being undone; `None` for identity.
    decoding: Option<BodyDecoder>,
    /// When the request was sent.
    pub sent_at: Instant,
    /// When the head arrived.
    pub head_at: Instant,
    /// When the first body byte arrived.
    pub first_byte: Option<Instant>,
    /// Each read: when, and how many bytes.
    pub reads: Vec<Seen<usize>>,
    /// Dispatched events.
    pub events: Vec<Seen<OwnedEvent>>,
    /// Accepted `retry` values.
    pub retries: Vec<Seen<u64>>,
    /// Comment lines (text after the colon).
    pub comments: Vec<Seen<String>>,
    /// Lines the spec ignores, with why.
    pub ignored: Vec<(IgnoreReason, String)>,
    /// Parser errors (size limits).
    pub errors: Vec<String>,
    /// Line-end styles.
    pub line_ends: LineEnds,
    /// Field names seen (comments excluded), truncated to 32 bytes.
    pub field_names: BTreeSet<String>,
    /// Longest line in bytes.
    pub max_line: usize,
    /// Largest block (event) in bytes.
    pub max_event: usize,
    /// Blocks with `event:` but no `data:` (never dispatched by browsers).
    pub named_without_data: u64,
    /// Blocks that set `id:` without `data:` (they move the resume point silently).
    pub id_without_data: u64,
    /// Blocks whose lines end in more than one style: a CR or LF written raw inside a value.
    pub mixed_in_block: u64,
    /// Stream offset of the first invalid UTF-8 sequence.
    pub invalid_utf8_at: Option<u64>,
    /// Stream offset of a BOM after byte 0.
    pub bom_mid_stream_at: Option<u64>,
    /// Total body bytes (as received, before any content coding is undone).
    pub bytes: u64,
    /// Body bytes after undoing the content coding (0 for identity).
    pub decoded: u64,
    /// How it ended.
    pub end: End,
    /// When the runner stopped watching (for gap measurements up to that instant).
    pub watched_until: Option<Instant>,
}

impl Capture {
    /// A capture for a response whose head arrived.
    pub fn new(response: &Response) -> Self {
        let mut capture = Self::starting(response.sent_at, response.head_at);
        let encoding = response
            .headers
            .get(http::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok());
        capture.decoding = encoding.and_then(BodyDecoder::new);
        capture
    }

    /// A capture for a body whose request was sent at `sent_at` and head arrived at `head_at`.
    pub fn starting(sent_at: Instant, head_at: Instant) -> Self {
        let limits = Limits::new()
            .with_max_line_bytes(8 << 20)
            .with_max_event_bytes(16 << 20);
        Capture {
            parser: Parser::new().report_ignored(true).with_limits(limits),
            scan: Scan::default(),
            decoding: None,
            sent_at,
            head_at,
            first_byte: None,
            reads: Vec::new(),
            events: Vec::new(),
            retries: Vec::new(),
            comments: Vec::new(),
            ignored: Vec::new(),
            errors: Vec::new(),
            line_ends: LineEnds::default(),
            field_names: BTreeSet::new(),
            max_line: 0,
            max_event: 0,
            named_without_data: 0,
            id_without_data: 0,
            mixed_in_block: 0,
            invalid_utf8_at: None,
            bom_mid_stream_at: None,
            bytes: 0,
            decoded: 0,
            end: End::Open,
            watched_until: None,
        }
    }

    /// Adds one read.
    pub fn push(&mut self, at: Instant, bytes: &[u8]) {
        self.first_byte.get_or_insert(at);
        self.bytes += bytes.len() as u64;
        if self.reads.len() < MAX_KEPT {
            self.reads.push(Seen {
                at,
                value: bytes.len(),
            });
        }
        let Some(mut decoder) = self.decoding.take() else {
            self.judge(at, bytes);
            return;
        };
        // Taken out while it runs, so each decoded piece can be judged as it comes.
        let result = decoder.decode(bytes, &mut |piece| self.judge(at, piece));
        self.decoded = decoder.decoded();
        self.decoding = Some(decoder);
        if let Err(e) = result {
            self.note(e);
        }
    }

    fn note(&mut self, error: String) {
        if self.errors.len() < MAX_NOTES {
            self.errors.push(error);
        }
    }

    /// Feeds body text (decoded when compressed) to the byte scan and the strict parser.
    fn judge(&mut self, at: Instant, bytes: &[u8]) {
        self.check_utf8(bytes);
        self.scan_lines(bytes);
        let mut feed = self.parser.feed(bytes);
        while let Some(frame) = feed.next_frame() {
            match frame {
                Ok(Frame::Event(e)) if self.events.len() < MAX_KEPT => self.events.push(Seen {
                    at,
                    value: e.to_owned_event(),
                }),
                Ok(Frame::Event(_)) => {}
                Ok(Frame::Retry(ms)) => self.retries.push(Seen { at, value: ms }),
                Ok(Frame::Comment(c)) if self.comments.len() < MAX_KEPT => {
                    self.comments.push(Seen {
                        at,
                        value: c.to_owned(),
                    })
                }
                Ok(Frame::Comment(_)) => {}
                Ok(Frame::Ignored(i)) if self.ignored.len() < MAX_NOTES => self
                    .ignored
                    .push((i.reason, i.line.chars().take(120).collect())),
                Ok(Frame::Ignored(_)) => {}
                Err(e) if self.errors.len() < MAX_NOTES => self.errors.push(e.to_string()),
                Err(_) => {}
            }
        }
    }

    /// Records how the body ended.
    pub fn close(&mut self, end: End) {
        self.end = end;
    }

    /// Marks a server-initiated EOF, with the parser's pending state.
    pub fn eof(&mut self, at: Instant) {
        let pending = self.parser.finish();
        self.end = End::Eof(at, pending);
    }

    /// Marks a connection that broke mid-body, with the parser's pending state.
    pub fn error(&mut self, at: Instant, error: String) {
        let pending = self.parser.finish();
        self.end = End::Error(at, error, pending);
    }

    /// Reads `response` into this capture until `deadline` or the end of the body, calling
    /// `stop` after each read; reading stops early when it returns true.
    pub async fn read_until(
        &mut self,
        response: &mut Response,
        deadline: Instant,
        mut stop: impl FnMut(&Capture) -> bool,
    ) {
        loop {
            match response.next(deadline).await {
                Next::Data(r) => {
                    self.push(r.at, &r.bytes);
                    if stop(self) {
                        return;
                    }
                }
                Next::Eof(at) => return self.eof(at),
                Next::Error(at, e) => return self.error(at, e),
                Next::Deadline => return,
            }
        }
    }

    /// Time from the head to the first body byte.
    pub fn head_to_first_byte(&self) -> Option<Duration> {
        self.first_byte.map(|t| t - self.head_at)
    }

    /// Ids of dispatched events, in order (events without an id give `""`).
    pub fn ids(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.value.id.as_str()).collect()
    }

    /// The file name in the gzip header of a `Content-Encoding: gzip` body, once it arrived.
    pub fn gzip_file_name(&self) -> Option<&[u8]> {
        self.decoding.as_ref()?.gzip_file_name()
    }

    /// Bytes that followed the first member of a gzip body made of several (one per write,
    /// by some compressors), dropped as browsers drop them; `None` for any other body.
    pub fn ignored_after_first_member(&self) -> Option<u64> {
        self.decoding.as_ref()?.ignored_after_first_member()
    }

    /// Whether the parser got anything out of the body: an event, a comment or a retry.
    pub fn parsed_anything(&self) -> bool {
        !self.events.is_empty() || !self.comments.is_empty() || !self.retries.is_empty()
    }

    /// Whether the server closed the body (cleanly or not).
    pub fn ended_by_server(&self) -> bool {
        !matches!(self.end, End::Open)
    }

    fn check_utf8(&mut self, bytes: &[u8]) {
        let start = self.scan.offset - self.scan.utf8_carry.len() as u64;
        self.scan.offset += bytes.len() as u64;
        if self.invalid_utf8_at.is_some() {
            return;
        }
        let mut buf = std::mem::take(&mut self.scan.utf8_carry);
        buf.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&buf) {
            Ok(s) => s,
            Err(e) if e.error_len().is_none() => {
                let (ok, rest) = buf.split_at(e.valid_up_to());
                self.scan.utf8_carry = rest.to_vec();
                std::str::from_utf8(ok).unwrap_or_default()
            }
            Err(e) => {
                self.invalid_utf8_at = Some(start + e.valid_up_to() as u64);
                return;
            }
        };
        if self.bom_mid_stream_at.is_none() {
            for (i, _) in valid.match_indices('\u{feff}') {
                let at = start + i as u64;
                if at > 0 {
                    self.bom_mid_stream_at = Some(at);
                    break;
                }
            }
        }
    }

    fn scan_lines(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.scan.pending_cr {
                self.scan.pending_cr = false;
                if b == b'\n' {
                    self.line_ends.crlf += 1;
                    self.end_line(2);
                    continue;
                }
                self.line_ends.cr += 1;
                self.end_line(4);
            }
            match b {
                b'\r' => self.scan.pending_cr = true,
                b'\n' => {
                    self.line_ends.lf += 1;
                    self.end_line(1);
                }
                _ => {
                    self.scan.line_len += 1;
                    self.scan.block_bytes += 1;
                    if !self.scan.name_done {
                        if b == b':' {
                            self.scan.name_done = true;
                        } else if self.scan.name.len() < 32 {
                            self.scan.name.push(b);
                        }
                    }
                }
            }
        }
    }

    /// `style`: 1 LF, 2 CRLF, 4 CR.
    fn end_line(&mut self, style: u8) {
        let s = &mut self.scan;
        self.max_line = self.max_line.max(s.line_len);
        s.block_styles |= style;
        if s.line_len == 0 {
            if s.block_styles.count_ones() > 1 {
                self.mixed_in_block += 1;
            }
            s.block_styles = 0;
            if s.block_has_event && !s.block_has_data {
                self.named_without_data += 1;
            }
            if s.block_has_id && !s.block_has_data {
                self.id_without_data += 1;
            }
            self.max_event = self.max_event.max(s.block_bytes);
            s.block_has_data = false;
            s.block_has_event = false;
            s.block_has_id = false;
            s.block_bytes = 0;
        } else if !s.name.is_empty() || !s.name_done {
            let name = String::from_utf8_lossy(&s.name)
                .trim_start_matches('\u{feff}')
                .to_owned();
            match name.as_str() {
                "data" => s.block_has_data = true,
                "event" => s.block_has_event = true,
                "id" => s.block_has_id = true,
                _ => {}
            }
            if self.field_names.len() < MAX_NOTES {
                self.field_names.insert(name);
            }
        }
        s.line_len = 0;
        s.name.clear();
        s.name_done = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gzip_body_is_judged_decoded() {
        use flate2::write::GzEncoder;
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all("data: é\n\n".as_bytes()).unwrap();
        let body = gz.finish().unwrap();
        let now = Instant::now();
        let mut c = Capture::starting(now, now);
        c.decoding = BodyDecoder::new("gzip");
        let (a, b) = body.split_at(body.len() / 2);
        c.push(now, a);
        c.push(now, b);
        assert_eq!(c.invalid_utf8_at, None);
        assert_eq!(c.events.len(), 1);
        assert_eq!(c.events[0].value.data, "é");
        assert_eq!(c.bytes, body.len() as u64, "raw bytes are still counted");

        let mut bad = Capture::starting(now, now);
        bad.decoding = BodyDecoder::new("gzip");
        bad.push(now, b"data: not gzip\n\n");
        assert!(bad.events.is_empty());
        assert!(
            bad.errors[0].contains("does not decode"),
            "{:?}",
            bad.errors
        );
    }

    const EVENTS: [&str; 3] = [
        "data: one\n\n",
        "id: 2\ndata: two é\n\n",
        ": c\ndata: three\n\n",
    ];

    /// Compresses each event and flushes after it, as an SSE server must; returns the body and
    /// where each event's bytes end in it.
    fn flushed<W: Write>(mut w: W, inner: fn(&mut W) -> &mut Vec<u8>) -> (Vec<u8>, Vec<usize>) {
        let mut ends = Vec::new();
        for event in EVENTS {
            w.write_all(event.as_bytes()).unwrap();
            w.flush().unwrap();
            ends.push(inner(&mut w).len());
        }
        (std::mem::take(inner(&mut w)), ends)
    }

    /// Feeds `body` 3 bytes per read: each event must be out by the read that completes its
    /// flushed bytes, and the whole stream decoded.
    fn decodes_per_read(coding: &str, (body, ends): (Vec<u8>, Vec<usize>)) {
        let now = Instant::now();
        let mut c = Capture::starting(now, now);
        c.decoding = BodyDecoder::new(coding);
        for (i, piece) in body.chunks(3).enumerate() {
            c.push(now, piece);
            let fed = (i * 3 + piece.len()).min(body.len());
            let due = ends.iter().filter(|&&end| end <= fed).count();
            assert!(
                c.events.len() >= due,
                "{coding}: {fed} bytes fed, {due} events due, {} out",
                c.events.len()
            );
        }
        assert_eq!(c.errors, Vec::<String>::new(), "{coding}");
        let data: Vec<&str> = c.events.iter().map(|e| e.value.data.as_str()).collect();
        assert_eq!(data, ["one", "two é", "three"], "{coding}");
        assert_eq!(
            c.bytes,
            body.len() as u64,
            "{coding}: raw bytes are still counted"
        );
        assert_eq!(c.decoded, EVENTS.concat().len() as u64, "{coding}");
    }

    #[test]
    fn every_coding_a_browser_accepts_decodes_per_read() {
        use flate2::write::{GzEncoder, ZlibEncoder};
        use flate2::Compression;
        let gz = GzEncoder::new(Vec::new(), Compression::default());
        decodes_per_read("gzip", flushed(gz, GzEncoder::get_mut));
        let zlib = ZlibEncoder::new(Vec::new(), Compression::default());
        decodes_per_read("deflate", flushed(zlib, ZlibEncoder::get_mut));
        let br = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
        decodes_per_read("br", flushed(br, brotli::CompressorWriter::get_mut));
        let zstd = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        decodes_per_read("zstd", flushed(zstd, zstd::stream::write::Encoder::get_mut));
    }

    #[test]
    fn bodies_that_do_not_decode_are_noted_once() {
        for coding in ["gzip", "deflate", "br", "zstd"] {
            let now = Instant::now();
            let mut c = Capture::starting(now, now);
            c.decoding = BodyDecoder::new(coding);
            c.push(now, b"data: not compressed at all\n\n");
            c.push(now, b"data: more\n\n");
            assert!(c.events.is_empty(), "{coding}");
            assert_eq!(c.errors.len(), 1, "{coding}: {:?}", c.errors);
            assert!(
                c.errors[0].contains(&format!("the {coding} body does not decode")),
                "{:?}",
                c.errors
            );
        }
    }

    /// What a stalled compressor sends: its header (here Django's, with the padded file name)
    /// and no deflate block yet. The name is read although nothing decodes.
    #[test]
    fn a_gzip_header_names_its_file_before_any_data() {
        let mut gz = flate2::GzBuilder::new()
            .filename("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
            .write(Vec::new(), flate2::Compression::new(6));
        gz.write_all(b": connected\n\n").unwrap();
        let sent = gz.get_ref().clone();
        let now = Instant::now();
        let mut c = Capture::starting(now, now);
        c.decoding = BodyDecoder::new("gzip");
        c.push(now, &sent);
        assert!(!c.parsed_anything());
        let name = c.gzip_file_name().expect("the header arrived");
        assert_eq!(name, &[b'a'; 44][..]);
        assert!(
            crate::diagnosis::gzip_compressor(name, crate::diagnosis::GzipStall::Held).is_some()
        );
    }

    /// A gzip body of one member per write (what a compressor that gzips each chunk on its
    /// own sends): the first member is read, the rest dropped as browsers drop it, with no
    /// decoding error.
    #[test]
    fn a_gzip_body_is_read_to_its_first_member_only() {
        let member = |text: &str| {
            let mut gz = flate2::GzBuilder::new()
                .filename("a")
                .write(Vec::new(), flate2::Compression::new(6));
            gz.write_all(text.as_bytes()).unwrap();
            gz.finish().unwrap()
        };
        let first = member(": connected\n\n");
        let second = member("data: one\n\n");
        let third = member("data: two\n\n");
        let now = Instant::now();
        let mut c = Capture::starting(now, now);
        c.decoding = BodyDecoder::new("gzip");
        // The second member arrives in the same read as the end of the first, and its magic
        // is split across reads.
        let mut joined = first.clone();
        joined.push(second[0]);
        c.push(now, &joined);
        c.push(now, &second[1..]);
        c.push(now, &third);
        assert_eq!(c.comments.len(), 1);
        assert!(c.events.is_empty(), "{:?}", c.events);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        let ignored = (second.len() + third.len()) as u64;
        assert_eq!(c.ignored_after_first_member(), Some(ignored));
        assert_eq!(c.gzip_file_name(), Some(&b"a"[..]));
    }

    #[test]
    fn a_decompression_bomb_stops_decoding() {
        // 64 MiB of one byte: a few KiB of zstd, far past the 1024-fold budget.
        let bomb = zstd::stream::encode_all(&vec![b'a'; 64 << 20][..], 19).unwrap();
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        let now = Instant::now();
        let mut c = Capture::starting(now, now);
        c.decoding = BodyDecoder::new("zstd");
        for piece in bomb.chunks(1024) {
            c.push(now, piece);
        }
        assert!(c.decoded <= MAX_EXPANSION * bomb.len() as u64 + DECODE_SLACK);
        assert_eq!(c.errors.len(), 1, "{:?}", c.errors);
        assert!(c.errors[0].contains("decompression bomb"), "{:?}", c.errors);
    }

    fn capture(chunks: &[&[u8]]) -> Capture {
        let now = Instant::now();
        let mut c = Capture::starting(now, now);
        for chunk in chunks {
            c.push(now, chunk);
        }
        c
    }

    #[test]
    fn line_end_styles_survive_a_cr_at_a_chunk_end() {
        let c = capture(&[b"data: a\r", b"\n\r\n: x\n", b"event: p\rdata: b\n\n"]);
        assert_eq!(
            c.line_ends,
            LineEnds {
                lf: 3,
                crlf: 2,
                cr: 1
            }
        );
        assert_eq!(c.line_ends.stray(), Some("lone CR in an LF stream"));
        assert_eq!(c.mixed_in_block, 1);
        assert_eq!(c.events.len(), 2);
        let c = capture(&[b": hb\r\n\r\ndata: a\n\n"]);
        assert_eq!(c.mixed_in_block, 0);
    }

    #[test]
    fn utf8_split_across_reads_is_fine_but_invalid_bytes_are_located() {
        let c = capture(&["data: é".as_bytes()[..7].as_ref(), &"é\n\n".as_bytes()[1..]]);
        assert_eq!(c.invalid_utf8_at, None);
        let c = capture(&[b"data: ok\n\n", b"data: \xff\n\n"]);
        assert_eq!(c.invalid_utf8_at, Some(16));
    }

    #[test]
    fn bom_only_at_byte_zero() {
        assert_eq!(
            capture(&["\u{feff}data: a\n\n".as_bytes()]).bom_mid_stream_at,
            None
        );
        let c = capture(&[b"data: a\n\n", "\u{feff}data: b\n\n".as_bytes()]);
        assert_eq!(c.bom_mid_stream_at, Some(9));
    }

    #[test]
    fn blocks_without_data_are_counted() {
        let c = capture(&[b"event: ping\n\nid: 3\nretry: 10\n\nid: 4\ndata: x\n\nData: y\n\n"]);
        assert_eq!(c.named_without_data, 1);
        assert_eq!(c.id_without_data, 1);
        assert!(c.field_names.contains("Data"));
        assert_eq!(c.events.len(), 1);
        assert_eq!(c.ignored.len(), 1);
    }
}
