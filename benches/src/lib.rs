//! Benchmark corpora and harness (in progress).
