//! Same-run ratios that survive a loaded machine: for every corpus × chunking, the parsers are
//! timed in interleaved rounds (ssekit, peer 1, peer 2, ..., ssekit, peer 1, ...) and each
//! keeps its best time. Preemption only ever adds time, so the minimum is the estimate least
//! disturbed by other processes, and interleaving exposes every parser to the same load.
//!
//! `cargo run -p ssekit-benches --release --bin ratios [ROUNDS] [GROUP-FILTER] [PARSERS]`
//!
//! `GROUP-FILTER` keeps the groups (`corpus@chunking`) whose name contains it; `PARSERS`, a
//! comma-separated list of names, keeps those parsers (ssekit, the base of the speed-up
//! column, is always timed). The last column gives each `Stream` adapter's time over
//! `ssekit-stream`'s.
//!
//! On single-event corpora (one long line) a reference that is not a parser is timed in the
//! same rounds: `copy-only`, which appends each chunk to one reused buffer and nothing else.
//! A parser fed borrowed chunks must copy a line cut by chunk ends at least once, so the
//! one-chunk parse plus this copy is a floor for the chunked parse.
//!
//! Each sample is this thread's CPU time where the platform has one (`CLOCK_THREAD_CPUTIME_ID`),
//! so that time the thread spends preempted by other processes on a shared machine does not
//! count; elsewhere it is wall time.
//!
//! The same checks as the criterion bench run first (ssekit against the expected tallies and
//! the oracle; peers' answers recorded; peers too slow for the budget skipped).

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use ssekit_benches::chunking::Chunking;
use ssekit_benches::cpu_time::thread_cpu_time;
use ssekit_benches::peer::Peer;
use ssekit_benches::tally::Tally;
use ssekit_benches::{corpus, peer, verify};

/// Each timed sample repeats the run until it lasts at least this long, so that timer
/// resolution and per-run setup do not dominate small corpora.
const MIN_SAMPLE: Duration = Duration::from_millis(20);

/// A parser whose single checking run took longer than this is not timed.
const TIMING_BUDGET: Duration = Duration::from_secs(2);

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: u32 = args.next().and_then(|r| r.parse().ok()).unwrap_or(15);
    let filter = args.next().unwrap_or_default();
    let only: Vec<String> = args
        .next()
        .map(|list| list.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    println!(
        "| group | parser | best time | GB/s | ns/event | ssekit speed-up | ÷ ssekit-stream |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for corpus in corpus::all() {
        let group = |chunking: &Chunking| format!("{}@{}", corpus.name, chunking.name);
        if !corpus.chunkings.iter().any(|c| group(c).contains(&filter)) {
            continue;
        }
        if let Err(e) = verify::check_ssekit(&corpus) {
            eprintln!("ssekit failed its check, no figures: {e}");
            std::process::exit(1);
        }
        let mut peers = peer::all();
        if !only.is_empty() {
            peers.retain(|p| p.name() == "ssekit" || only.iter().any(|o| o == p.name()));
        }
        let answers = verify::peer_answers(&corpus, &mut peers);
        let floor = (corpus.expected.events == 1).then(|| {
            peers.push(Box::new(CopyOnly::default()));
            peers.len() - 1
        });
        for chunking in &corpus.chunkings {
            let group = group(chunking);
            if !group.contains(&filter) {
                continue;
            }
            let mut timed = Vec::new();
            for (index, peer) in peers.iter().enumerate() {
                let answer = answers
                    .iter()
                    .find(|a| a.peer == peer.name() && a.chunking == chunking.name);
                match answer {
                    Some(a) if a.got.is_ok() && a.once <= TIMING_BUDGET => {
                        // Runs per sample, from the checking run's duration.
                        let reps = (MIN_SAMPLE.as_secs_f64() / a.once.as_secs_f64().max(1e-7))
                            .ceil()
                            .clamp(1.0, 10_000.0) as u32;
                        timed.push((index, reps, Duration::MAX));
                    }
                    Some(a) => {
                        let why = match &a.got {
                            Err(e) => e.clone(),
                            Ok(_) => format!("one run took {:.2} s", a.once.as_secs_f64()),
                        };
                        println!(
                            "| {group} | {} | not timed: {} | | | |",
                            peer.name(),
                            why.replace('|', "\\|")
                        );
                    }
                    None => {}
                }
            }
            if let Some(index) = floor {
                let start = thread_cpu_time();
                let _ = black_box(peers[index].run(&corpus.bytes, chunking));
                let reps = (MIN_SAMPLE.as_secs_f64()
                    / (thread_cpu_time() - start).as_secs_f64().max(1e-7))
                .ceil()
                .clamp(1.0, 10_000.0) as u32;
                timed.push((index, reps, Duration::MAX));
            }
            for _ in 0..rounds {
                for (index, reps, best) in timed.iter_mut() {
                    let peer = &mut peers[*index];
                    let start = thread_cpu_time();
                    for _ in 0..*reps {
                        let _ = black_box(peer.run(black_box(&corpus.bytes), chunking));
                    }
                    *best = (*best).min((thread_cpu_time() - start) / *reps);
                }
            }
            let base = timed
                .iter()
                .find(|(i, ..)| peers[*i].name() == "ssekit")
                .map(|t| t.2);
            let stream = timed
                .iter()
                .find(|(i, ..)| peers[*i].name() == "ssekit-stream")
                .map(|t| t.2);
            timed.sort_by_key(|t| t.2);
            for (index, _, best) in &timed {
                let secs = best.as_secs_f64();
                let speedup = base.map_or(f64::NAN, |b| secs / b.as_secs_f64());
                let name = peers[*index].name();
                // Only the `Stream` adapters compare with `ssekit-stream` (and the floor).
                let over_stream = match stream {
                    Some(s) if peer::is_stream_adapter(name) => {
                        format!("{:.2}×", secs / s.as_secs_f64())
                    }
                    _ => String::new(),
                };
                println!(
                    "| {group} | {name} | {} | {:.3} | {:.1} | {:.2}× | {over_stream} |",
                    human(*best),
                    corpus.bytes.len() as f64 / secs / 1e9,
                    secs * 1e9 / corpus.expected.events as f64,
                    speedup
                );
            }
        }
    }
}

fn human(d: Duration) -> String {
    let ns = d.as_secs_f64() * 1e9;
    match ns {
        n if n >= 1e9 => format!("{:.2} s", n / 1e9),
        n if n >= 1e6 => format!("{:.2} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.1} µs", n / 1e3),
        n => format!("{n:.0} ns"),
    }
}

/// Not a parser: the least work any parser fed borrowed chunks must do for a line that spans
/// them, one copy into a buffer it owns. The buffer is kept across runs, as the parsers keep
/// theirs.
#[derive(Default)]
struct CopyOnly {
    buf: Vec<u8>,
}

impl Peer for CopyOnly {
    fn name(&self) -> &'static str {
        "copy-only (reference)"
    }

    fn run(&mut self, input: &Bytes, chunking: &Chunking) -> Result<Tally, String> {
        self.buf.clear();
        for range in chunking.ranges(input.len()) {
            self.buf.extend_from_slice(&input[range]);
        }
        Ok(Tally {
            events: 0,
            data_bytes: black_box(&self.buf).len() as u64,
        })
    }
}
