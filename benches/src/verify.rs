//! Checks run before any timing, so speed never comes from skipping spec work.
//!
//! - ssekit must give each corpus's expected tally under every chunking.
//! - On the corpora small enough, ssekit's events and retry values must equal, one by one, those
//!   of the literal `nom` oracle (`ssekit_parser::oracle`), under every chunking.
//! - Each peer's tally is recorded; a peer that answers differently is a finding, not a failure.
//! - A peer is timed on the 8 MiB line in small chunks only if its projected time fits a budget:
//!   a quadratic one would take hours on 8 MiB in 1-byte chunks.

use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ssekit_parser::{oracle, Frame, OwnedFrame, Parser};

use crate::chunking::Chunking;
use crate::corpus::{self, Corpus};
use crate::peer::{Peer, BENCH_LIMITS};
use crate::tally::Tally;

/// Checks ssekit on `corpus`: the tally under every chunking, and the oracle's exact frames
/// when the corpus is marked for it. `Err` says what differed.
pub fn check_ssekit(corpus: &Corpus) -> Result<(), String> {
    let mut ssekit = crate::peer::Ssekit::new();
    let want_frames = corpus.oracle_checked.then(|| oracle::parse(&corpus.bytes));
    for chunking in &corpus.chunkings {
        let got = ssekit.run(&corpus.bytes, chunking)?;
        if got != corpus.expected {
            return Err(format!(
                "{} / {}: ssekit gave {got:?}, expected {:?}",
                corpus.name, chunking.name, corpus.expected
            ));
        }
        if let Some(want) = &want_frames {
            let frames = ssekit_frames(&corpus.bytes, chunking)?;
            if let Some(i) =
                (0..want.len().max(frames.len())).find(|&i| want.get(i) != frames.get(i))
            {
                return Err(format!(
                    "{} / {}: frame {i} differs from the oracle: ssekit {:?}, oracle {:?}",
                    corpus.name,
                    chunking.name,
                    frames.get(i),
                    want.get(i)
                ));
            }
        }
    }
    Ok(())
}

/// ssekit's events and retry values (what the oracle reports), owned.
fn ssekit_frames(bytes: &Bytes, chunking: &Chunking) -> Result<Vec<OwnedFrame>, String> {
    let mut parser = Parser::new().with_limits(BENCH_LIMITS);
    let mut out = Vec::new();
    for range in chunking.ranges(bytes.len()) {
        let mut feed = parser.feed(&bytes[range]);
        while let Some(frame) = feed.next_frame() {
            match frame.map_err(|e| e.to_string())? {
                f @ (Frame::Event(_) | Frame::Retry(_)) => out.push(f.to_owned_frame()),
                Frame::Comment(_) | Frame::Ignored(_) => {}
            }
        }
    }
    parser.finish();
    Ok(out)
}

/// One peer's answer on one corpus and chunking.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Corpus name.
    pub corpus: &'static str,
    /// Chunking name.
    pub chunking: String,
    /// Peer name.
    pub peer: &'static str,
    /// What it gave, or its error.
    pub got: Result<Tally, String>,
    /// What a conforming parser gives.
    pub expected: Tally,
    /// How long the one checking run took (zero when not run).
    pub once: Duration,
}

impl Answer {
    /// The peer gave the expected tally.
    pub fn is_correct(&self) -> bool {
        self.got.as_ref() == Ok(&self.expected)
    }
}

/// Runs a peer, turning a panic inside it into an `Err` (eventsource-stream 0.2.3 panics on a
/// BOM split across chunks): the harness must survive a peer's bug to report it.
pub fn run_guarded(
    peer: &mut dyn Peer,
    input: &Bytes,
    chunking: &Chunking,
) -> Result<Tally, String> {
    let quiet = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(|| peer.run(input, chunking)));
    panic::set_hook(quiet);
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        // The first line, without the quoted input some panics append.
        let short: String = message
            .split(['\n', '`'])
            .next()
            .unwrap_or_default()
            .chars()
            .take(90)
            .collect();
        Err(format!("panicked: {short}"))
    })
}

/// Whether a peer may be timed on a chunking of the 8 MiB line.
#[derive(Debug, Clone)]
pub enum Scaling {
    /// Its projected time for 8 MiB fits the budget: time it.
    Affordable,
    /// Its projected time for 8 MiB is over the budget: not timed; the probe says why.
    TooSlow {
        /// Time for a 256 KiB line.
        small: Duration,
        /// Time for a 1 MiB line (4x the bytes), if it was worth running.
        large: Option<Duration>,
        /// Time projected for 8 MiB with the exponent measured between the two.
        projected: Duration,
    },
}

/// Longest projected time for one run on the 8 MiB line that is still timed.
pub const PROBE_BUDGET: Duration = Duration::from_secs(3);

/// Times `peer` on a 256 KiB and a 1 MiB data line cut by `chunking`, fits `t = c * n^k`, and
/// projects the 8 MiB time: a quadratic parser (eventsource-stream #11) would otherwise take
/// hours on 8 MiB in 1-byte chunks. The exponent is reported in the skip message.
pub fn probe_scaling(peer: &mut dyn Peer, chunking: &Chunking) -> Scaling {
    // Best of three (unless slow) so that one preempted run on a loaded machine does not
    // condemn a linear parser.
    let time = |peer: &mut dyn Peer, len: usize| {
        let (bytes, _) = corpus::line_event(len);
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            let _ = run_guarded(peer, &bytes, chunking);
            best = best.min(start.elapsed());
            if best > Duration::from_millis(500) {
                break;
            }
        }
        best
    };
    let small = time(peer, 256 * 1024);
    if small > PROBE_BUDGET / 32 {
        // Even linear, 32x the bytes would not fit.
        return Scaling::TooSlow {
            small,
            large: None,
            projected: small * 32,
        };
    }
    let large = time(peer, corpus::MIB);
    let exponent = (large.as_secs_f64() / small.as_secs_f64().max(1e-9))
        .log(4.0)
        .max(1.0);
    let projected = Duration::from_secs_f64(large.as_secs_f64() * 8f64.powf(exponent));
    if projected > PROBE_BUDGET {
        return Scaling::TooSlow {
            small,
            large: Some(large),
            projected,
        };
    }
    Scaling::Affordable
}

/// The chunkings of `corpus` that `peer` is checked and timed on: all of them, except on the
/// 8 MiB line, where any cut chunking needs a probe first (ssekit is probed by its
/// criterion figures instead).
pub fn timed_chunkings<'c>(
    peer: &mut dyn Peer,
    corpus: &'c Corpus,
) -> Vec<(&'c Chunking, Scaling)> {
    corpus
        .chunkings
        .iter()
        .map(|chunking| {
            let small_chunks =
                corpus.name == "C-8MiB-line" && chunking.count(corpus.bytes.len()) > 1;
            let scaling = if small_chunks && peer.name() != "ssekit" {
                probe_scaling(peer, chunking)
            } else {
                Scaling::Affordable
            };
            (chunking, scaling)
        })
        .collect()
}

/// Every peer's answer on every chunking of `corpus` it can be run on in reasonable time.
pub fn peer_answers(corpus: &Corpus, peers: &mut [Box<dyn Peer>]) -> Vec<Answer> {
    let mut out = Vec::new();
    for peer in peers.iter_mut() {
        for (chunking, scaling) in timed_chunkings(peer.as_mut(), corpus) {
            let start = Instant::now();
            let got = match scaling {
                Scaling::Affordable => run_guarded(peer.as_mut(), &corpus.bytes, chunking),
                Scaling::TooSlow {
                    small,
                    large,
                    projected,
                } => Err(format!(
                    "not run: projected {:.0} s for 8 MiB in {} chunks (256 KiB took {:.1} ms, 1 MiB {})",
                    projected.as_secs_f64(),
                    chunking.name,
                    small.as_secs_f64() * 1e3,
                    large.map_or("not tried".to_owned(), |l| format!("{:.1} ms", l.as_secs_f64() * 1e3)),
                )),
            };
            out.push(Answer {
                corpus: corpus.name,
                chunking: chunking.name.clone(),
                peer: peer.name(),
                got,
                expected: corpus.expected,
                once: start.elapsed(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Eol;

    #[test]
    fn ssekit_matches_expected_and_oracle_on_small_corpora() {
        check_ssekit(&corpus::small_json()).unwrap();
        check_ssekit(&corpus::adversarial(Eol::Cr)).unwrap();
        check_ssekit(&corpus::adversarial(Eol::CrLf)).unwrap();
    }

    #[test]
    fn a_wrong_tally_is_caught() {
        let mut c = corpus::small_json();
        c.expected.events -= 1;
        assert!(check_ssekit(&c).is_err());
    }
}
