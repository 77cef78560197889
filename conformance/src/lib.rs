//! The `ssekit` command line and the libraries behind it.
//!
//! # Map of the crate
//! - [`parse`]: `ssekit parse`, the parser's fixed JSON-lines contract (`shared/CLI-CONTRACT.md`).
//! - `main.rs`: the `ssekit` binary, a thin clap layer over these modules.
#![forbid(unsafe_code)]

pub mod parse;
