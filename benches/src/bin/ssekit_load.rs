//! `ssekit-load URL --connections N --duration S [--publish URL --rate R] [--stall K]`: load an
//! SSE server on loopback and report delivery, ids and latency. See `ssekit_benches::load`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ssekit_benches::load::{self, LoadConfig};

/// Load generator for Server-Sent Events servers (loopback only).
#[derive(Debug, Parser)]
#[command(name = "ssekit-load")]
struct Args {
    /// Event-stream URL, e.g. http://127.0.0.1:8080/stream?topic=bench
    url: String,
    /// Connections to open (beyond 15 000 they use 127.0.0.2, .3, ... as source; raise `ulimit -n`).
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// Seconds to publish and read.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Publish URL (POST JSON {"topic"?, "data"}), e.g. http://127.0.0.1:8080/publish
    #[arg(long)]
    publish: Option<String>,
    /// Topic named in published events.
    #[arg(long)]
    topic: Option<String>,
    /// Events published per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Readers that stop reading after the response head.
    #[arg(long, default_value_t = 0)]
    stall: usize,
    /// Seconds to wait after the last publish for deliveries in flight.
    #[arg(long, default_value_t = 1.0)]
    drain: f64,
}

fn config(args: Args) -> Result<LoadConfig, String> {
    let seconds = |s: f64, what: &str| {
        Duration::try_from_secs_f64(s)
            .map_err(|_| format!("--{what} must be a non-negative number of seconds"))
    };
    Ok(LoadConfig {
        url: load::parse_uri(&args.url)?,
        connections: args.connections,
        duration: seconds(args.duration, "duration")?,
        publish: args.publish.as_deref().map(load::parse_uri).transpose()?,
        topic: args.topic,
        rate: args.rate,
        stall: args.stall.min(args.connections),
        drain: seconds(args.drain, "drain")?,
    })
}

fn main() -> ExitCode {
    let config = match config(Args::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ssekit-load: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ssekit-load: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(load::run(config)) {
        Ok(report) => {
            print!("{}", report.render());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ssekit-load: {e}");
            ExitCode::from(2)
        }
    }
}
