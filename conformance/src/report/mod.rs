//! Reports of a run: the human table ([`human`]), the JSON document ([`json`]) and JUnit XML
//! ([`junit`]), all built from one [`Report`].

use std::time::Duration;

use crate::checks::Status;
use crate::runner::CheckResult;

pub mod human;
pub mod json;
pub mod junit;

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was checked (URL, or the embedded server's URL).
    pub target: String,
    /// `quick` or `full`.
    pub profile: &'static str,
    /// When the run started (seconds since the Unix epoch).
    pub started_unix: u64,
    /// How long it took.
    pub duration: Duration,
    /// One entry per check run.
    pub results: Vec<CheckResult>,
    /// The browser session (`--browser`).
    pub browser: Option<crate::browser::BrowserReport>,
    /// What makes the run fail (`--strict`).
    pub gate: Gate,
}

/// Which statuses make the exit status 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Gate {
    /// Only a FAIL (a MUST violated): the default, so advice never breaks a build.
    #[default]
    Must,
    /// A WARN too (`--strict`), for CI users who hold their server to the SHOULDs.
    Strict,
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// PASS.
    pub pass: usize,
    /// FAIL.
    pub fail: usize,
    /// WARN.
    pub warn: usize,
    /// SKIP.
    pub skip: usize,
    /// INFO.
    pub info: usize,
}

impl Report {
    /// Counts per status.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for r in &self.results {
            match r.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Warn => s.warn += 1,
                Status::Skip => s.skip += 1,
                Status::Info => s.info += 1,
            }
        }
        s
    }

    /// 0 when no MUST failed (and, with `--strict`, nothing warned), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        let s = self.summary();
        let failed = match self.gate {
            Gate::Must => s.fail > 0,
            Gate::Strict => s.fail + s.warn > 0,
        };
        u8::from(failed)
    }
}
