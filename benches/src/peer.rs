//! One small trait to drive every parser the same way, and its implementations.
//!
//! Each implementation is used the way its documentation intends: the sans-I/O ones are fed
//! slices, the `Stream` adapters get a stream of `Bytes` chunks (slices of one shared buffer, so
//! building a chunk is a reference-count increment, not a copy), `async-sse` gets an
//! `AsyncBufRead`, and `eventsource-client` an in-memory HTTP transport. Streams are polled with
//! `futures_executor::block_on`; none of them ever waits, so no runtime is involved.

use std::convert::Infallible;
use std::io;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, Stream, StreamExt, TryStreamExt};
use ssekit_parser::{Frame, Limits, Parser};

use crate::chunking::Chunking;
use crate::tally::Tally;

/// The caps ssekit runs with in every benchmark. The defaults (1 MiB line, 4 MiB event) would
/// refuse corpus B's 1 MiB data lines (the line is `data: ` plus 1 MiB) and the 8 MiB line, so
/// both are raised to 16 MiB; the limits cost nothing per byte either way.
pub const BENCH_LIMITS: Limits = Limits::new()
    .with_max_line_bytes(16 << 20)
    .with_max_event_bytes(16 << 20);

/// A parser under test: feed it a corpus in chunks, get back its tally.
pub trait Peer {
    /// The crate (and API) name shown in reports.
    fn name(&self) -> &'static str;

    /// Parses `input` cut as `chunking` says, from the start of a new stream. `Err` carries the
    /// parser's own error message.
    fn run(&mut self, input: &Bytes, chunking: &Chunking) -> Result<Tally, String>;
}

/// Every parser, ssekit first.
pub fn all() -> Vec<Box<dyn Peer>> {
    vec![
        Box::new(Ssekit::new()),
        Box::new(SsekitStream),
        Box::new(Sseer),
        Box::new(EventsourceStream),
        Box::new(SseStream),
        Box::new(EventsourceClient),
        Box::new(AsyncSse),
        Box::new(SseCodec),
    ]
}

/// Whether the parser named `name` is driven as a `Stream` over [`chunk_stream`]: those
/// compare directly with `ssekit-stream`.
pub fn is_stream_adapter(name: &str) -> bool {
    matches!(
        name,
        "ssekit-stream" | "sseer" | "eventsource-stream" | "sse-stream"
    )
}

/// The chunks of `input` as a stream of `Bytes`, as an HTTP body yields them.
fn chunk_stream<E>(
    input: &Bytes,
    chunking: &Chunking,
) -> impl Stream<Item = Result<Bytes, E>> + Unpin + Send + Sync + 'static {
    let input = input.clone();
    let ranges = chunking.ranges(input.len());
    stream::iter(ranges.map(move |r| Ok(input.slice(r))))
}

/// ssekit's borrowed, sans-I/O API: `&[u8]` in, `Event<'_>` out. The parser is kept across
/// runs (reset by `finish`), as a client keeps it across reconnections.
#[derive(Debug)]
pub struct Ssekit {
    parser: Parser,
}

impl Ssekit {
    /// A parser with [`BENCH_LIMITS`].
    pub fn new() -> Self {
        Ssekit {
            parser: Parser::new()
                .with_limits(BENCH_LIMITS)
                .report_comments(false),
        }
    }
}

impl Default for Ssekit {
    fn default() -> Self {
        Self::new()
    }
}

impl Peer for Ssekit {
    fn name(&self) -> &'static str {
        "ssekit"
    }

    fn run(&mut self, input: &Bytes, chunking: &Chunking) -> Result<Tally, String> {
        let mut tally = Tally::default();
        for range in chunking.ranges(input.len()) {
            let mut feed = self.parser.feed(&input[range]);
            while let Some(frame) = feed.next_frame() {
                match frame {
                    Ok(Frame::Event(event)) => tally.add(event.data.len()),
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        self.parser.finish();
        Ok(tally)
    }
}

/// Drains a stream of parse results, adding up the data length of every item `data_len` calls
/// an event (`None`: not an event, e.g. a comment or a block without data).
fn tally_stream<S, T, E>(
    mut items: S,
    data_len: impl Fn(T) -> Option<usize>,
) -> Result<Tally, String>
where
    S: Stream<Item = Result<T, E>> + Unpin,
    E: std::fmt::Display,
{
    futures_executor::block_on(async {
        let mut tally = Tally::default();
        while let Some(item) = items.next().await {
            if let Some(len) = data_len(item.map_err(|e| e.to_string())?) {
                tally.add(len);
            }
        }
        Ok(tally)
    })
}

/// ssekit's `Stream` adapter (feature `stream`): `Bytes` chunks in, owned `BytesEvent`s out,
/// the API comparable with the peers' streams.
#[derive(Debug, Default)]
pub struct SsekitStream;

impl Peer for SsekitStream {
    fn name(&self) -> &'static str {
        "ssekit-stream"
    }

    fn run(&mut self, input: &Bytes, chunking: &Chunking) -> Result<Tally, String> {
        let parser = Parser::new()
            .with_limits(BENCH_LIMITS)
            .report_comments(false);
        let body = chunk_stream::<Infallible>(input, chunking);
        let events = ssekit_parser::stream::EventStream::with_parser(body, parser);
        tally_stream(events, |event| Some(event.data().len()))
    }
}

/// Not a parser: a `Stream` adapter that polls the stream of chunks the adapters get, in a
/// loop as an adapter does, and drops each chunk. Its instruction count (`hot` under
/// callgrind) is the harness's share of theirs: building, handing over and dropping each
/// `Bytes` chunk. Its time is no floor: with nothing between them, each chunk's two
/// reference-count updates wait on each other, which real adapters overlap with their work.
#[derive(Debug, Default)]
pub struct ChunksOnly;

/// Drains its inner stream on the first poll and yields the number of chunks.
struct Drain<S>(S);

impl<S: Stream<Item = Result<Bytes, Infallible>> + Unpin> Stream for Drain<S> {
    type Item = Result<usize, Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let mut chunks = 0;
        while let std::task::Poll::Ready(Some(chunk)) = self.0.poll_next_unpin(cx) {
            std::hint::black_box(chunk).ok();
            chunks += 1;
        }
        std::task::Poll::Ready((chunks > 0).then_some(Ok(chunks)))
    }
}

impl Peer for ChunksOnly {
    fn name(&self) -> &'static str {
        "chunks-only"
    }

    fn run(&mut self, input: &Bytes, chunking: &Chunking) -> Result<Tally, String> {
        let chunks = Drain(chunk_stream::<Infallible>(input, chunking));
        tally_stream(chunks, |_| None)
    }
}

/// `sseer` 0.3.1 `EventStream` over `Bytes` chunks.
#[derive(Debug, Default)]
pub struct Sseer;

impl Peer for Sseer {
    fn name(&self) -> &'static str {
        "sseer"
    }

    fn run(&mut self, input: &Bytes, chunking: &Chunking) -> Result<Tally, String> {
        let events = sseer::EventStream::new(chunk_stream::<io::Error>(input, chunking));
        tally_stream(events, |event| Some(event.data.len()))
    }
}

/// `eventsource-stream` 0.2.3 (under reqwest-eventsource) over `Bytes` chunks.
#[derive(Debug, Default)]
pub struct EventsourceStream;

impl Peer for EventsourceStream {
    fn name(&self) -> &'static str {
        "eventsource-stream"
    }

    fn run(&mut self, input: &Bytes, chunking: &Chunking) -> Result<Tally, String> {
        use eventsource_stream::Eventsource;
        let events = chunk_stream::<io::Error>(input, chunking).eventsource();
        tally_stream(events, |event| Some(event.data.len()))
    }
}

/// `sse-stream` 0.3.0 `SseByteStream` over `Bytes` chunks. It also yields blocks without
/// data; only those with data are events.
#[derive(Debug, Default)]
pub struct SseStream;

impl Peer for SseStream {
    fn name(&self) -> &'static str {
        "sse-stream"
    }

    fn run(&mut self, input: &Bytes, chunking: &Chunking) -> Result<Tally, String> {
        let events = sse_stream::SseByteStream::new(chunk_stream::<io::Error>(input, chunking));
        tally_stream(events, |sse| sse.data.map(|data| data.len()))
    }
}

/// `async-sse` 5.1.0 `decode` over an `AsyncBufRead` of the chunks.
#[derive(Debug, Default)]
pub struct AsyncSse;

impl Peer for AsyncSse {
    fn name(&self) -> &'static str {
        "async-sse"
    }

    fn run(&mut self, input: &Bytes, chunking: &Chunking) -> Result<Tally, String> {
        let reader = chunk_stream::<io::Error>(input, chunking).into_async_read();
        let events = async_sse::decode(reader);
        tally_stream(events, |event| match event {
            async_sse::Event::Message(message) => Some(message.data().len()),
            _ => None,
        })
    }
}

/// `sse-codec` 0.3.3: its `futures_codec::Decoder` driven directly over a `BytesMut`.
#[derive(Debug, Default)]
pub struct SseCodec;

impl Peer for SseCodec {
    fn name(&self) -> &'static str {
        "sse-codec"
    }

    fn run(&mut self, input: &Bytes, chunking: &Chunking) -> Result<Tally, String> {
        use futures_codec::Decoder;
        let mut codec = sse_codec::SSECodec::default();
        let mut buf = BytesMut::new();
        let mut tally = Tally::default();
        for range in chunking.ranges(input.len()) {
            buf.extend_from_slice(&input[range]);
            while let Some(event) = codec.decode(&mut buf).map_err(|e| e.to_string())? {
                if let sse_codec::Event::Message { data, .. } = event {
                    tally.add(data.len());
                }
            }
        }
        while let Some(event) = codec.decode_eof(&mut buf).map_err(|e| e.to_string())? {
            if let sse_codec::Event::Message { data, .. } = event {
                tally.add(data.len());
            }
        }
        Ok(tally)
    }
}

/// `eventsource-client` 0.18.0. Its parser is private, so it is driven the only way its API
/// allows: a client over an in-memory [`HttpTransport`](launchdarkly_sdk_transport::HttpTransport)
/// that answers `200 OK` with the chunks, reconnection off. The per-run request setup is a few
/// microseconds, noise against a 1 MiB corpus.
#[derive(Debug, Default)]
pub struct EventsourceClient;

#[derive(Clone)]
struct MemoryTransport {
    input: Bytes,
    chunking: Chunking,
}

impl launchdarkly_sdk_transport::HttpTransport for MemoryTransport {
    fn request(
        &self,
        _request: http::Request<Option<Bytes>>,
    ) -> launchdarkly_sdk_transport::ResponseFuture {
        let body: launchdarkly_sdk_transport::ByteStream =
            Box::pin(chunk_stream(&self.input, &self.chunking));
        let response = http::Response::builder()
            .status(200)
            .header("content-type", "text/event-stream")
            .body(body)
            .map_err(launchdarkly_sdk_transport::TransportError::new);
        Box::pin(async move { response })
    }
}

impl Peer for EventsourceClient {
    fn name(&self) -> &'static str {
        "eventsource-client"
    }

    fn run(&mut self, input: &Bytes, chunking: &Chunking) -> Result<Tally, String> {
        use eventsource_client::{Client, ClientBuilder, ReconnectOptions, SSE};
        let transport = MemoryTransport {
            input: input.clone(),
            chunking: chunking.clone(),
        };
        let client = ClientBuilder::for_url("http://127.0.0.1/")
            .map_err(|e| e.to_string())?
            .reconnect(ReconnectOptions::reconnect(false).build())
            .build_with_transport(transport);
        let mut events = client.stream();
        futures_executor::block_on(async {
            let mut tally = Tally::default();
            while let Some(item) = events.next().await {
                match item {
                    Ok(SSE::Event(event)) => tally.add(event.data.len()),
                    Ok(_) => {}
                    // The body ended: with reconnection off that is the end of the stream.
                    Err(eventsource_client::Error::Eof) => break,
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(tally)
        })
    }
}
