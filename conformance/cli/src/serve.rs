//! `ssekit serve`: the reference server until SIGINT or SIGTERM, logging to stderr.

use std::process::ExitCode;

/// Installs the log subscriber (`RUST_LOG`, default `info`) and runs the server.
pub fn run(args: ssekit_server::ServeArgs) -> ExitCode {
    // A subscriber installed already (by an embedding program) is kept.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    ssekit_server::run_blocking(args.into())
}
