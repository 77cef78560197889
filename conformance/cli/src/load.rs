//! `ssekit load`: the load generator against a URL, or against the reference server started
//! in this process when no URL is given (its RSS then includes the client's).

use std::process::ExitCode;

use ssekit_load::{execute, report::Report, Endpoints, LoadArgs, LoadError};

/// Runs the load and returns its exit status: 0 when every connection opened and every reader
/// got every event exactly once, 1 when not, 2 when the run could not start.
pub fn run(args: LoadArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ssekit load: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let json = args.json.clone();
    let report = match runtime.block_on(load(args)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ssekit load: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", report.human());
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(source) = std::fs::write(&path, text + "\n") {
            eprintln!("ssekit load: {}", LoadError::Json { path, source });
            return ExitCode::from(2);
        }
    }
    ExitCode::from(report.exit_code)
}

/// Why the load could not start.
#[derive(Debug)]
enum Failure {
    Load(LoadError),
    Embedded(ssekit_server::ServerError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Load(e) => e.fmt(f),
            Failure::Embedded(e) => write!(f, "cannot start the embedded reference server: {e}"),
        }
    }
}

/// The load against `--url`, or against an embedded reference server.
async fn load(args: LoadArgs) -> Result<Report, Failure> {
    if args.url.is_some() {
        let endpoints = Endpoints::from_args(&args).map_err(Failure::Load)?;
        return execute(args, endpoints).await.map_err(Failure::Load);
    }
    let server = ssekit_server::start(ssekit_server::Config::default())
        .await
        .map_err(Failure::Embedded)?;
    let endpoints =
        Endpoints::reference_server(server.local_addr(), std::process::id(), args.transport);
    let report = execute(args, endpoints).await;
    server.shutdown().await;
    report.map_err(Failure::Load)
}
