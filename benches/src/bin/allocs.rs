//! Prints heap allocations per event for ssekit's borrowed API and every peer, on every corpus
//! and chunking (`cargo run -p ssekit-benches --release --bin allocs [GROUP-FILTER] [PARSERS]`:
//! as for `ratios`, only the groups `corpus@chunking` containing the filter, and only the
//! comma-separated parsers, when given).
//!
//! Each figure is the second of two runs, so buffers that are kept across streams (ssekit's
//! parser is reset by `finish`, as on a reconnection) are warm: it is the steady state.

use std::alloc::System;

use ssekit_benches::verify::{self, Scaling};
use ssekit_benches::{corpus, peer};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    let mut args = std::env::args().skip(1);
    let filter = args.next().unwrap_or_default();
    let only: Vec<String> = args
        .next()
        .map(|list| list.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    println!(
        "| corpus | chunking | parser | allocations / event | bytes allocated / event | answer |"
    );
    println!("|---|---|---|---:|---:|---|");
    for corpus in corpus::all() {
        let group = |chunking: &str| format!("{}@{chunking}", corpus.name);
        if !corpus
            .chunkings
            .iter()
            .any(|c| group(&c.name).contains(&filter))
        {
            continue;
        }
        if let Err(e) = verify::check_ssekit(&corpus) {
            eprintln!("ssekit failed its check, no figures: {e}");
            std::process::exit(1);
        }
        let mut peers = peer::all();
        if !only.is_empty() {
            peers.retain(|p| only.iter().any(|o| o == p.name()));
        }
        for peer in peers.iter_mut() {
            for (chunking, scaling) in verify::timed_chunkings(peer.as_mut(), &corpus) {
                if !group(&chunking.name).contains(&filter) {
                    continue;
                }
                let row = format!("| {} | {} | {} |", corpus.name, chunking.name, peer.name());
                if let Scaling::TooSlow { projected, .. } = scaling {
                    println!("{row} - | - | not run: projected {projected:.0?} on 8 MiB |");
                    continue;
                }
                if let Err(e) = verify::run_guarded(peer.as_mut(), &corpus.bytes, chunking) {
                    println!("{row} - | - | error: {} |", e.replace('|', "\\|"));
                    continue;
                }
                let region = Region::new(GLOBAL);
                let got = peer.run(&corpus.bytes, chunking);
                let stats = region.change();
                let events = corpus.expected.events as f64;
                let answer = match &got {
                    Ok(t) if *t == corpus.expected => "correct".to_owned(),
                    Ok(t) => format!("{} events, {} data bytes", t.events, t.data_bytes),
                    Err(e) => format!("error: {e}"),
                };
                println!(
                    "{row} {:.3} | {:.0} | {answer} |",
                    stats.allocations as f64 / events,
                    stats.bytes_allocated as f64 / events
                );
            }
        }
    }
}
