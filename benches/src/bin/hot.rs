//! Runs one parser on one corpus and chunking in a loop, for a profiler:
//! `perf record -g target/release/hot ssekit A-small-json whole 2000`. Besides the parsers,
//! `chunks-only` drains the chunk stream alone: the harness's share of a `Stream` adapter.

use std::process::ExitCode;

use ssekit_benches::{corpus, peer};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [parser, corpus_name, chunking_name, rounds] = &args[..] else {
        eprintln!(
            "usage: hot PARSER CORPUS CHUNKING ROUNDS   (e.g. hot ssekit A-small-json whole 2000)"
        );
        return ExitCode::FAILURE;
    };
    let Ok(rounds) = rounds.parse::<u32>() else {
        eprintln!("ROUNDS must be a number, got {rounds:?}");
        return ExitCode::FAILURE;
    };
    let Some(corpus) = corpus::all().into_iter().find(|c| c.name == corpus_name) else {
        eprintln!("no corpus named {corpus_name:?}");
        return ExitCode::FAILURE;
    };
    let Some(chunking) = corpus.chunkings.iter().find(|c| &c.name == chunking_name) else {
        eprintln!("corpus {corpus_name} has no chunking {chunking_name:?}");
        return ExitCode::FAILURE;
    };
    let floor: Box<dyn peer::Peer> = Box::new(peer::ChunksOnly);
    let found = peer::all()
        .into_iter()
        .chain([floor])
        .find(|p| p.name() == parser);
    let Some(mut peer) = found else {
        eprintln!("no parser named {parser:?}");
        return ExitCode::FAILURE;
    };
    let mut last = None;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        last = Some(peer.run(&corpus.bytes, chunking));
    }
    let per_round = start.elapsed().as_secs_f64() / f64::from(rounds.max(1));
    println!(
        "{:.1} µs/round, {:.3} GB/s: {last:?} (expected {:?})",
        per_round * 1e6,
        corpus.bytes.len() as f64 / per_round / 1e9,
        corpus.expected
    );
    ExitCode::SUCCESS
}
