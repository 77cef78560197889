//! `ssekit check --browser`: asks a real browser. Headless Chromium loads a probe page served
//! by the runner, whose `EventSource` reads the target through a recording proxy on the same
//! origin; the B checks compare what the browser did with what the server sent and with the
//! runner's own verdicts.
//!
//! - `chromium` (feature `browser`): launching the browser (fixed flags, fresh profile,
//!   DevTools port).
//! - `cdp` (feature `browser`): the handful of DevTools-protocol commands used, over a WebSocket.
//! - [`proxy`]: the probe page and the recording proxy (Last-Event-ID, status, events, retry).
//! - `drive` (feature `browser`): one scripted session: open, publish, server-side close,
//!   reconnect; then a cross-origin EventSource straight at the target, next to the runner's own
//!   CORS reading. [`session`] holds what it saw.
//! - [`verdicts`]: the B checks (B01–B06) and the disagreements with the runner.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::runner::CheckResult;
use crate::target::Target;

#[cfg(feature = "browser")]
#[cfg_attr(docsrs, doc(cfg(feature = "browser")))]
pub mod cdp;
#[cfg(feature = "browser")]
#[cfg_attr(docsrs, doc(cfg(feature = "browser")))]
pub mod chromium;
#[cfg(feature = "browser")]
#[cfg_attr(docsrs, doc(cfg(feature = "browser")))]
pub mod drive;
pub mod proxy;
pub mod session;
pub mod verdicts;

/// Where Debian installs Chromium (`--chromium` changes it).
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

pub use session::Observation;
pub use verdicts::Disagreement;

/// Why the browser session could not run.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// No browser at the path.
    #[error("no Chromium at {0}: install it (Debian: `apt-get install chromium`) or pass --chromium PATH")]
    Missing(PathBuf),
    /// The browser did not start.
    #[error("cannot start Chromium: {0}")]
    Launch(String),
    /// A DevTools-protocol step failed.
    #[error("DevTools protocol: {0}")]
    Cdp(String),
    /// This build of the runner has no browser driver.
    #[error("this ssekit was built without browser support: rebuild with the `browser` feature (`cargo install --path conformance/cli` has it)")]
    NotBuilt,
    /// The runner's publish failed during the session.
    #[error("publishing during the browser session failed: {0}")]
    Publish(String),
}

/// How the session runs.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// The Chromium executable.
    pub chromium: PathBuf,
    /// `new EventSource(url, {withCredentials: true})`.
    pub with_credentials: bool,
    /// Bound on each wait of the session.
    pub timeout: Duration,
}

/// What `--browser` adds to a report.
#[derive(Debug, Clone, Serialize)]
pub struct BrowserReport {
    /// The session, or why there was none.
    pub observation: Option<Observation>,
    /// Why there was no session.
    pub error: Option<String>,
    /// B checks whose verdict differs from the runner's on the same rule.
    pub disagreements: Vec<Disagreement>,
}

/// Runs one session against `target` (listening to the named `types` besides `message`) and
/// returns the B rows and the report section. A session that cannot run gives SKIPs with the
/// reason, never a failure of the server.
pub async fn run(
    target: &Target,
    types: &[String],
    opts: &BrowserOptions,
) -> (Vec<CheckResult>, BrowserReport) {
    run_on(target, types, opts, None).await
}

/// [`run`] with the probe page served on `page` (bound beforehand, so its origin
/// `http://ADDR` is known: a server can be told to allow it before the session).
pub async fn run_on(
    target: &Target,
    types: &[String],
    opts: &BrowserOptions,
    page: Option<std::net::TcpListener>,
) -> (Vec<CheckResult>, BrowserReport) {
    let started = Instant::now();
    #[cfg(feature = "browser")]
    let observed = drive::observe(target, types, opts, page).await;
    #[cfg(not(feature = "browser"))]
    let observed = {
        let _ = (target, types, opts, page);
        Err(BrowserError::NotBuilt)
    };
    match observed {
        Ok(obs) => {
            let rows = verdicts::results(&obs, started.elapsed());
            let report = BrowserReport {
                observation: Some(obs),
                error: None,
                disagreements: Vec::new(),
            };
            (rows, report)
        }
        Err(e) => {
            let reason = e.to_string();
            let report = BrowserReport {
                observation: None,
                error: Some(reason.clone()),
                disagreements: Vec::new(),
            };
            (verdicts::not_run(&reason), report)
        }
    }
}
