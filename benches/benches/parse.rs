//! Parser throughput: every corpus × chunking, ssekit and the peers side by side.
//!
//! Before any timing, ssekit is checked against each corpus's expected tally (and the `nom`
//! oracle on the small corpora), and each peer's answer is printed (`ANSWER` lines): a peer that
//! answers differently is still timed, and flagged. A peer whose single checking run takes over
//! 2 s, or that scales superlinearly on the 8 MiB line, is not timed (`SKIP` lines). `META`
//! lines give each group's bytes and expected events, for ns/event.
//!
//! Run: `cargo bench -p ssekit-benches --bench parse -- --warm-up-time 1 --measurement-time 3`
//!
//! `SSEKIT_CORPUS=A-small` limits the run (checks included) to the corpora whose name contains
//! it; criterion's own filter only skips timings, not the checks of every corpus.
//! `SSEKIT_BENCH_CLOCK=cpu` times by this thread's CPU time instead of wall time: on a shared,
//! loaded machine, time spent preempted by other processes then does not count.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput};
use ssekit_benches::cpu_time::thread_cpu_time;
use ssekit_benches::{corpus, peer, verify};

/// A peer slower than this per iteration is reported from its single run instead.
const TIMING_BUDGET: Duration = Duration::from_secs(2);

fn parse<M: Measurement>(c: &mut Criterion<M>) {
    let only = std::env::var("SSEKIT_CORPUS").unwrap_or_default();
    for corpus in corpus::all() {
        if !corpus.name.contains(only.as_str()) {
            continue;
        }
        if let Err(e) = verify::check_ssekit(&corpus) {
            panic!("ssekit failed its correctness check; no figure would mean anything: {e}");
        }
        let mut peers = peer::all();
        let answers = verify::peer_answers(&corpus, &mut peers);
        for a in &answers {
            let got = match &a.got {
                Ok(t) => format!("{}\t{}", t.events, t.data_bytes),
                Err(e) => format!("error\t{e}"),
            };
            println!(
                "ANSWER\t{}\t{}\t{}\t{}\t{}\t{}\t{:.6}",
                a.corpus,
                a.chunking,
                a.peer,
                if a.is_correct() {
                    "correct"
                } else {
                    "DIFFERENT"
                },
                got,
                a.expected.events,
                a.once.as_secs_f64()
            );
        }
        for chunking in &corpus.chunkings {
            let id = format!("{}@{}", corpus.name, chunking.name);
            println!(
                "META\t{id}\t{}\t{}",
                corpus.bytes.len(),
                corpus.expected.events
            );
            let mut group = c.benchmark_group(&id);
            group.throughput(Throughput::Bytes(corpus.bytes.len() as u64));
            group.sample_size(10);
            for peer in peers.iter_mut() {
                let answer = answers
                    .iter()
                    .find(|a| a.peer == peer.name() && a.chunking == chunking.name);
                let Some(answer) = answer else { continue };
                if let Err(e) = &answer.got {
                    println!("SKIP\t{id}\t{}\t{e}", peer.name());
                    continue;
                }
                if answer.once > TIMING_BUDGET {
                    println!(
                        "SKIP\t{id}\t{}\tone run took {:.2} s",
                        peer.name(),
                        answer.once.as_secs_f64()
                    );
                    continue;
                }
                group.bench_function(peer.name(), |b| {
                    b.iter(|| black_box(peer.run(black_box(&corpus.bytes), chunking)))
                });
            }
            group.finish();
        }
    }
}

/// This thread's CPU time, as a criterion measurement (shown like wall time).
struct ThreadCpu(WallTime);

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_time()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_time().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

fn main() {
    if std::env::var("SSEKIT_BENCH_CLOCK").as_deref() == Ok("cpu") {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpu(WallTime))
            .configure_from_args();
        parse(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        parse(&mut c);
        c.final_summary();
    }
}
