//! The `ssekit` command line: thin commands over the workspace's libraries.
//!
//! # Map of the crate
//! - [`parse`]: `ssekit parse`, the parser's JSON-lines contract printed as the bytes arrive
//!   (`docs/parse.md`); [`parse::url`] connects to a URL itself and `--follow`s it.
//! - [`serve`]: `ssekit serve`, the reference server ([`ssekit_server`]) with a log subscriber.
//! - [`load`]: `ssekit load`, the load generator ([`ssekit_load`]), with the embedded server
//!   when no URL is given.
//! - `ssekit check` is [`ssekit_check::check_command::run`] as it is.
//!
//! Command-line parsing (`clap`) and the log subscriber (`tracing-subscriber`) live in this
//! crate only; the libraries take plain settings.
#![forbid(unsafe_code)]

pub mod load;
pub mod parse;
pub mod serve;
