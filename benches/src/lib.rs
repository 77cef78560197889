//! Benchmark corpora and harness comparing `ssekit-parser` with the Rust SSE parsers users
//! would otherwise pick. Never a dependency of anything.
//!
//! # Map of the crate
//! - [`rng`]: SplitMix64, so corpora are byte-identical everywhere.
//! - [`corpus`]: corpora A (small JSON), B (large multi-line, 1 MiB lines), C (adversarial,
//!   8 MiB line), each with its expected tally.
//! - [`chunking`]: the ways a corpus is cut into chunks (whole, fixed, line-aligned,
//!   event-aligned, CRLF split).
//! - [`cpu_time`]: this thread's CPU time, the clock of `ratios` (and of the parse bench with
//!   `SSEKIT_BENCH_CLOCK=cpu`) on a shared machine.
//! - [`tally`]: events and data bytes, the answer every parser must give.
//! - [`peer`]: the one small trait every parser is driven through, and its implementations.
//! - [`verify`]: checks ssekit against the expected tallies and the `nom` oracle before timing,
//!   and records which peers answer differently.
//!
//! Benches live in `benches/` (criterion). Binaries: `allocs` (heap allocations per event),
//! `ratios` (interleaved same-run ratios) and `hot` (one case in a loop, for profilers).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chunking;
pub mod corpus;
pub mod cpu_time;
pub mod peer;
pub mod rng;
pub mod tally;
pub mod verify;
