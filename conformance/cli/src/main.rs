//! `ssekit`: parse event streams, check SSE servers, run the reference server.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ssekit::parse::{parse_to_json_lines, read_input, Chunking};

#[derive(Parser)]
#[command(name = "ssekit", version, about = "Server-Sent Events toolkit")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse a text/event-stream and print one JSON object per event and per retry.
    Parse {
        /// Input file; standard input when absent or `-`.
        file: Option<PathBuf>,
        /// Feed the parser chunks of this many bytes (the output must not change).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        chunk_size: Option<u64>,
    },
    /// Run the reference SSE server (HTTP/1.1 and h2c) until SIGINT or SIGTERM.
    Serve(ssekit_server::ServeArgs),
    /// Check an SSE server over the network (with no URL: the embedded reference server).
    Check(Box<ssekit_check::check_command::CheckArgs>),
    /// Load an SSE server on loopback: N streams, a timed publisher, stalled readers; reports
    /// delivery, missing/duplicate events, latency percentiles and the server's RSS.
    Load(ssekit_load::LoadArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Parse { file, chunk_size } => parse(file, chunk_size),
        Command::Serve(args) => ssekit::serve::run(args),
        Command::Check(args) => ssekit_check::check_command::run(*args),
        Command::Load(args) => ssekit::load::run(args),
    }
}

fn parse(file: Option<PathBuf>, chunk_size: Option<u64>) -> ExitCode {
    let input = match file.as_deref() {
        None => read_input(io::stdin().lock()),
        Some(p) if p.as_os_str() == "-" => read_input(io::stdin().lock()),
        Some(p) => File::open(p).and_then(read_input),
    };
    let input = match input {
        Ok(bytes) => bytes,
        Err(e) => {
            let name = file.map_or("standard input".into(), |p| p.display().to_string());
            eprintln!("ssekit parse: cannot read {name}: {e}");
            return ExitCode::from(2);
        }
    };
    let chunking = chunk_size.map_or(Chunking::Whole, |n| {
        Chunking::Fixed(usize::try_from(n).unwrap_or(usize::MAX))
    });
    let mut out = BufWriter::new(io::stdout().lock());
    let result = parse_to_json_lines(&input, chunking, &mut out, &mut io::stderr())
        .and_then(|()| out.flush());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`ssekit parse f | head`) is not an error worth a message.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ssekit parse: cannot write output: {e}");
            ExitCode::from(2)
        }
    }
}
