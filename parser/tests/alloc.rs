//! Steady-state parsing allocates nothing per event in the borrowed API: once the parser's
//! reused buffers have grown to fit the stream, a counting global allocator sees zero
//! allocations, whatever the chunking.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ssekit_parser::{Frame, Parser};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers every call to the system allocator; it only counts, per thread, so the other
// tests running in parallel do not disturb the count.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// A stream mixing what real servers send: JSON tokens with ids, multi-line data, CR-only and
/// CRLF line ends, comments, retry, invalid UTF-8, named events.
fn corpus() -> Vec<u8> {
    let mut s = Vec::new();
    for i in 0..400 {
        match i % 5 {
            0 => s.extend_from_slice(
                format!("id: {i}\nevent: delta\ndata: {{\"choices\":[{{\"delta\":{{\"content\":\"token {i}\"}}}}]}}\n\n").as_bytes(),
            ),
            1 => s.extend_from_slice(format!("data: line one {i}\r\ndata: line two\r\ndata: three\r\n\r\n").as_bytes()),
            2 => s.extend_from_slice(format!(": heartbeat {i}\rretry: 3000\rdata: cr only\r\r").as_bytes()),
            3 => s.extend_from_slice(b"data: bad \xFF\xFE utf8\nid:\n\n"),
            _ => s.extend_from_slice(format!("event: named\ndata: {}\n\n", "x".repeat(i % 97)).as_bytes()),
        }
    }
    s
}

/// Parses the corpus in `size`-byte chunks and returns (events, data bytes) so the work
/// cannot be optimised away.
fn parse(parser: &mut Parser, input: &[u8], size: usize) -> (usize, usize) {
    let (mut events, mut bytes) = (0, 0);
    for chunk in input.chunks(size) {
        let mut feed = parser.feed(chunk);
        while let Some(frame) = feed.next_frame() {
            if let Ok(Frame::Event(e)) = frame {
                events += 1;
                bytes += e.data.len() + e.event_type.len() + e.id.len();
            }
        }
    }
    (events, bytes)
}

#[test]
fn steady_state_parsing_allocates_nothing() {
    let input = corpus();
    for size in [1, 7, 128, 1500, 16 * 1024, input.len()] {
        let mut parser = Parser::new();
        let warm = parse(&mut parser, &input, size);
        let before = allocations();
        let again = parse(&mut parser, &input, size);
        let during = allocations() - before;
        assert_eq!(warm, again, "same stream, same events");
        assert_eq!(warm.0, 400, "every block of the corpus dispatches");
        assert_eq!(
            during, 0,
            "{during} allocations for {} events in {size}-byte chunks",
            again.0
        );
    }
}

#[test]
fn the_counter_counts() {
    // Guards the test above against a counter that never moves.
    let before = allocations();
    let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(64));
    drop(v);
    assert_eq!(allocations() - before, 1);
}

/// The blocking reader shares each read's buffer among its events and reuses it once they are
/// dropped: for events whose fields lie in the read as sent (single-line data, valid UTF-8,
/// the id in the same event), what it allocates follows the reads, not the events. Fields the
/// parser had to build (data joined from several lines, replaced UTF-8, a line cut by the
/// read's end, an id from an earlier read) are copied, one allocation each.
#[test]
fn the_blocking_reader_allocates_per_read_not_per_event() {
    use ssekit_parser::read::EventReader;

    let mut input = Vec::new();
    for i in 0..800 {
        input.extend_from_slice(
            format!("id: {i}\nevent: delta\ndata: {{\"content\":\"token {i}\"}}\n\n").as_bytes(),
        );
    }
    let read_size = 4096;
    let mut reader = EventReader::new(&input[..]).read_size(read_size);
    let mut bytes = 0;
    for event in reader.by_ref().take(400) {
        bytes += event.unwrap().data().len();
    }
    let before = allocations();
    let mut events = 0;
    for event in reader.by_ref() {
        bytes += event.unwrap().data().len();
        events += 1;
    }
    let during = allocations() - before;
    let reads = (input.len() / 2).div_ceil(read_size);
    eprintln!(
        "{during} allocations for {events} events in about {reads} reads ({bytes} data bytes)"
    );
    assert_eq!(events, 400);
    // At most the three fields of the one event cut by each read's end.
    assert!(
        during <= 3 * (reads + 1),
        "{during} allocations for {events} events in about {reads} reads of {read_size} bytes"
    );
}
