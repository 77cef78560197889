//! Serializer: `id` + `event` + 100 B `data`, ssekit into a reused buffer vs axum 0.8.9's
//! `Event` building the same frame.
//!
//! Before timing, both frames are parsed back with ssekit and must give the same event, and the
//! heap allocations per frame are counted with a counting global allocator and printed
//! (`ALLOCS` lines).
//!
//! axum's `Event::finalize` (which appends the closing LF and freezes the buffer) is private;
//! the axum figure is the builder chain up to that point, which slightly favours axum.
//!
//! Run: `cargo bench -p ssekit-benches --bench serialize -- --warm-up-time 1 --measurement-time 3`

use std::alloc::System;
use std::convert::Infallible;
use std::hint::black_box;

use axum::response::sse::{Event as AxumEvent, Sse};
use axum::response::IntoResponse;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http_body_util::BodyExt;
use ssekit_parser::{Frame, Message, OwnedEvent, Parser};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ID: &str = "1234567";
const EVENT: &str = "delta";
/// 100 bytes of JSON.
const DATA: &str = r#"{"id":"c-42","choices":[{"delta":{"content":"the quick brown fox jumps over the lazy dog"}}],"n":12}"#;

fn ssekit_frame(buf: &mut Vec<u8>) -> usize {
    buf.clear();
    Message::new(black_box(DATA))
        .event(black_box(EVENT))
        .id(black_box(ID))
        .encode(buf)
        .unwrap_or(0)
}

fn axum_event() -> AxumEvent {
    AxumEvent::default()
        .id(black_box(ID))
        .event(black_box(EVENT))
        .data(black_box(DATA))
}

/// axum's finished frame, through the only public way out: an `Sse` response body.
fn axum_frame() -> Bytes {
    let body = Sse::new(futures_util::stream::iter([Ok::<_, Infallible>(
        axum_event(),
    )]))
    .into_response()
    .into_body();
    futures_executor::block_on(body.collect())
        .map(|collected| collected.to_bytes())
        .unwrap_or_default()
}

fn parse_one(frame: &[u8]) -> Vec<OwnedEvent> {
    let mut parser = Parser::new();
    let mut feed = parser.feed(frame);
    let mut out = Vec::new();
    while let Some(Ok(frame)) = feed.next_frame() {
        if let Frame::Event(e) = frame {
            out.push(e.to_owned_event());
        }
    }
    out
}

fn check_and_count() {
    assert_eq!(DATA.len(), 100);
    let mut buf = Vec::with_capacity(256);
    ssekit_frame(&mut buf);
    let ours = parse_one(&buf);
    let theirs = parse_one(&axum_frame());
    assert_eq!(ours.len(), 1, "ssekit frame must hold one event");
    assert_eq!(
        ours, theirs,
        "ssekit and axum frames must parse to the same event"
    );
    assert_eq!((ours[0].id.as_str(), ours[0].data.as_str()), (ID, DATA));

    const N: u64 = 10_000;
    let region = Region::new(GLOBAL);
    for _ in 0..N {
        black_box(ssekit_frame(&mut buf));
    }
    let ssekit = region.change();
    let region = Region::new(GLOBAL);
    for _ in 0..N {
        let _ = black_box(axum_event());
    }
    let axum = region.change();
    let region = Region::new(GLOBAL);
    for _ in 0..N {
        black_box(Message::new(DATA).event(EVENT).id(ID).to_bytes().ok());
    }
    let to_bytes = region.change();
    for (name, stats) in [
        ("ssekit encode into reused Vec", ssekit),
        ("ssekit to_bytes (new Bytes per frame)", to_bytes),
        ("axum Event builder", axum),
    ] {
        println!(
            "ALLOCS\t{name}\t{:.2} allocations/frame\t{:.0} bytes/frame",
            stats.allocations as f64 / N as f64,
            stats.bytes_allocated as f64 / N as f64
        );
    }
}

fn serialize(c: &mut Criterion) {
    check_and_count();
    let mut group = c.benchmark_group("serialize@id+event+100B");
    let mut buf = Vec::with_capacity(256);
    let len = ssekit_frame(&mut buf) as u64;
    group.throughput(Throughput::Bytes(len));
    group.bench_function("ssekit-encode-reused-vec", |b| {
        b.iter(|| ssekit_frame(&mut buf))
    });
    group.bench_function("ssekit-to_bytes", |b| {
        b.iter(|| {
            Message::new(black_box(DATA))
                .event(black_box(EVENT))
                .id(black_box(ID))
                .to_bytes()
        })
    });
    group.bench_function("axum-event", |b| b.iter(axum_event));
    group.finish();
}

criterion_group!(benches, serialize);
criterion_main!(benches);
