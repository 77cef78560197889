//! The grammar vectors in `vectors/`: every `NAME.sse` is parsed whole and under many
//! chunkings (1, 2, 3, 7 bytes, seeded random cuts, an empty first chunk); all must print the
//! same JSON lines, which must equal both the hand-written `expected/NAME.jsonl` and the
//! reviewed insta snapshot `snapshots/vectors__NAME.snap`. The reports on standard error (what
//! the end of input discarded, and where) must not depend on the chunking either.
//!
//! After changing the parser on purpose: `cargo insta test -p ssekit --test vectors`
//! then `cargo insta review`.

use std::path::{Path, PathBuf};

use ssekit::parse::{parse_to_json_lines, Chunking, Session};
use ssekit_parser::Limits;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors")
}

fn vector_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(vectors_dir())
        .expect("vectors/ exists")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".sse").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// The JSON lines and the reports (limits, end of input) for `input` cut as `chunking`.
fn run(input: &[u8], chunking: Chunking) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    parse_to_json_lines(input, chunking, &mut out, &mut err).expect("writing to a Vec");
    (
        String::from_utf8(out).expect("the contract prints UTF-8"),
        String::from_utf8(err).expect("reports are UTF-8"),
    )
}

/// Cuts at pseudo-random points (splitmix64 seeded by the name), with an empty chunk first.
fn run_random_cuts(input: &[u8], seed: u64) -> (String, String) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut session = Session::new(Limits::default(), &mut out, &mut err);
    let mut rest = input;
    let mut first = true;
    while !rest.is_empty() || first {
        let take = if first { 0 } else { (next() % 17) as usize + 1 };
        first = false;
        let (chunk, tail) = rest.split_at(take.min(rest.len()));
        rest = tail;
        session.feed(chunk, None).expect("writing to a Vec");
    }
    session.end().expect("writing to a Vec");
    drop(session);
    (
        String::from_utf8(out).expect("UTF-8"),
        String::from_utf8(err).expect("UTF-8"),
    )
}

fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    })
}

#[test]
fn there_are_enough_vectors() {
    let n = vector_names().len();
    assert!(n >= 80, "only {n} vectors");
}

#[test]
fn every_vector_matches_its_expectation_and_snapshot_under_every_chunking() {
    let dir = vectors_dir();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(dir.join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    let _guard = settings.bind_to_scope();

    for name in vector_names() {
        let input = std::fs::read(dir.join(format!("{name}.sse"))).expect("vector readable");
        let (whole, reports) = run(&input, Chunking::Whole);
        for size in [1, 2, 3, 7] {
            // The reports too: limits and the end of input name the same offsets.
            assert_eq!(
                run(&input, Chunking::Fixed(size)),
                (whole.clone(), reports.clone()),
                "{name}: chunks of {size}"
            );
        }
        assert_eq!(
            run_random_cuts(&input, seed_of(&name)),
            (whole.clone(), reports.clone()),
            "{name}: random cuts"
        );

        let expected = std::fs::read_to_string(dir.join(format!("expected/{name}.jsonl")))
            .unwrap_or_else(|e| panic!("{name}: expected/{name}.jsonl: {e}"));
        assert_eq!(
            whole, expected,
            "{name}: differs from the hand-written expectation"
        );
        insta::assert_snapshot!(name.as_str(), whole);
    }
}
