//! Runs the selected checks in their phases (background watches beside the main sequence, then
//! shutdown, then the summary checks), with a progress line on stderr.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::checks::{Check, Finding, Phase, Status};
use crate::context::{Ctx, Lifetime, Options, Profile};
use crate::diagnosis::FirstAnswer;

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The check.
    pub check: Check,
    /// Its status.
    pub status: Status,
    /// What was observed, or why it was skipped.
    pub observed: String,
    /// How long it ran.
    pub duration: Duration,
}

/// Which checks run: `--only` and `--skip` take ids (`I03`) or group letters (`I`).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Run only these (all when empty).
    pub only: Vec<String>,
    /// Never run these.
    pub skip: Vec<String>,
}

/// A selector that names no check.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` names no check; use an id such as H01 or a group letter (H F I R K T S C L P, and B \
     with --browser)"
)]
pub struct UnknownCheck(pub String);

impl Selection {
    fn matches(pattern: &str, check: &Check) -> bool {
        pattern.eq_ignore_ascii_case(check.id) || pattern.eq_ignore_ascii_case(check.group())
    }

    /// The checks selected from `all`, in order; unknown selectors are an error.
    pub fn apply(&self, all: Vec<Check>) -> Result<Vec<Check>, UnknownCheck> {
        for p in self.only.iter().chain(&self.skip) {
            if !all.iter().any(|c| Self::matches(p, c)) {
                return Err(UnknownCheck(p.clone()));
            }
        }
        Ok(all
            .into_iter()
            .filter(|c| self.only.is_empty() || self.only.iter().any(|p| Self::matches(p, c)))
            .filter(|c| !self.skip.iter().any(|p| Self::matches(p, c)))
            .collect())
    }

    /// Whether `--only` names one of `set` (by id or group letter).
    pub fn only_names(&self, set: &[Check]) -> bool {
        self.only
            .iter()
            .any(|p| set.iter().any(|c| Self::matches(p, c)))
    }

    /// Splits the selection over `runner` checks and `browser` ones (B, judged from a browser
    /// session): each side keeps the selectors that name its checks. A selector naming
    /// neither is an error. `--only` that names no browser check leaves every browser check in,
    /// as `--browser` asks for them.
    pub fn split(
        &self,
        runner: Vec<Check>,
        browser: Vec<Check>,
    ) -> Result<(Vec<Check>, Vec<Check>), UnknownCheck> {
        let names = |p: &String, set: &[Check]| set.iter().any(|c| Self::matches(p, c));
        for p in self.only.iter().chain(&self.skip) {
            if !names(p, &runner) && !names(p, &browser) {
                return Err(UnknownCheck(p.clone()));
            }
        }
        let side = |set: &[Check]| Selection {
            only: self
                .only
                .iter()
                .filter(|p| names(p, set))
                .cloned()
                .collect(),
            skip: self
                .skip
                .iter()
                .filter(|p| names(p, set))
                .cloned()
                .collect(),
        };
        let (for_runner, for_browser) = (side(&runner), side(&browser));
        let runner = match (for_runner.only.is_empty(), self.only.is_empty()) {
            // Only browser checks named: no runner check is wanted.
            (true, false) => Vec::new(),
            _ => for_runner.apply(runner)?,
        };
        Ok((runner, for_browser.apply(browser)?))
    }
}

/// A progress line on stderr (only when stderr is a terminal).
pub struct Progress {
    on: bool,
    total: usize,
    done: usize,
}

impl Progress {
    /// Progress for `total` checks; silent unless stderr is a terminal and `quiet` is false.
    pub fn new(total: usize, quiet: bool) -> Self {
        Progress {
            on: !quiet && std::io::stderr().is_terminal(),
            total,
            done: 0,
        }
    }

    fn show(&self, what: &str) {
        if self.on {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K[{:>2}/{}] {what}", self.done, self.total);
            let _ = e.flush();
        }
    }

    fn finish(&self) {
        if self.on {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

/// Whether the runner can make the server publish (`--publish`, or the embedded server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publishing {
    /// Active checks run.
    Hook,
    /// Passive checks only.
    None,
}

/// How long the whole run may take at most, stated up front.
pub fn budget(opts: &Options, publishing: Publishing) -> Duration {
    let idle_watch = opts.heartbeat_max + Duration::from_secs(5);
    // A publish hook runs the active checks (T01, S01's two runs, S04, F07, the id pumps).
    let quick = match publishing {
        Publishing::Hook => Duration::from_secs(35),
        Publishing::None => Duration::from_secs(25),
    };
    let base = match opts.profile {
        Profile::Quick => quick.max(idle_watch),
        Profile::Full => Duration::from_secs(150).max(idle_watch),
    };
    match opts.lifetime {
        // A finite stream is read to its end a few times over (baseline, the bare control,
        // concurrent requests), each bounded by --stream-max.
        Lifetime::Finite => base + opts.stream_max * 3,
        Lifetime::Endless => base,
    }
}

/// Guards against a check that never returns despite its own bounds.
fn check_limit(profile: Profile) -> Duration {
    profile.pick(Duration::from_secs(90), Duration::from_secs(600))
}

/// Checks that judge the first response itself, or other URLs: they run when the stream
/// never opened. Every other check needs the stream and would only wait out its own timeout.
/// P08 judges an MCP server's session rules with requests of its own; P09 counts what the run
/// sent, stream or not.
const WITHOUT_A_STREAM: [&str; 10] = [
    "H01", "H02", "H10", "H11", "H12", "H14", "L01", "P08", "P09", "T06",
];

/// Checks that judge an answer that is not an event stream (its status, where its redirects
/// led, the statuses seen), or other URLs. The check whose rule the answer breaks (H01 or
/// H02, see [`crate::diagnosis::NotAStream::reported_by`]) runs too; the rest, H14 included,
/// would judge a page or an error body as if it were a stream.
const ON_ANY_ANSWER: [&str; 6] = ["H01", "H10", "H11", "H12", "L01", "P08"];

/// Why `check` cannot judge what the stream URL gave, if it cannot.
async fn blocked(ctx: &Ctx, check: &Check) -> Option<String> {
    match ctx.first_answer().await {
        FirstAnswer::NotAStream(n) => {
            let judges = ON_ANY_ANSWER.contains(&check.id) || check.id == n.reported_by();
            (!judges).then(|| n.skip_reason())
        }
        _ if WITHOUT_A_STREAM.contains(&check.id) => None,
        _ => ctx.blocked().await,
    }
}

/// Checks that judge a finite stream (one opened by a request, read to its end) as well as a
/// feed; the others need an endless stream, a publish hook, replay or a GET of their own.
const ON_A_FINITE_STREAM: [&str; 24] = [
    "H01", "H02", "H03", "H04", "H06", "H08", "H09", "H11", "H12", "H14", "F01", "F02", "F03",
    "F04", "F05", "F06", "F08", "F09", "F10", "I02", "I09", "R03", "K03", "T06",
];

/// Why `check` does not apply to a finite stream, if it does not.
fn endless_only(ctx: &Ctx, check: &Check) -> Option<String> {
    let finite = ctx.opts.lifetime == Lifetime::Finite;
    let applies = check.group() == "P" || ON_A_FINITE_STREAM.contains(&check.id);
    (finite && !applies).then(|| {
        format!(
            "the stream is finite (opened by {}, or --finite): this check needs an endless feed, a \
             publish hook, replay or a GET of its own; the P checks judge finite streams",
            ctx.target.opening.method
        )
    })
}

async fn run_one(ctx: &Ctx, check: Check, deadline: Instant) -> CheckResult {
    let started = Instant::now();
    let limit = check_limit(ctx.opts.profile);
    let left = deadline.saturating_duration_since(started);
    let blocked = blocked(ctx, &check).await;
    let finding = match (blocked, endless_only(ctx, &check)) {
        (_, Some(reason)) => Finding::skip(reason),
        (Some(cause), None) => Finding::skip(cause),
        (None, None) if left.is_zero() => Finding::skip(format!(
            "the run's announced bound was spent before this check could run; `--only {}` gives it \
             the whole run",
            check.id
        )),
        (None, None) => match tokio::time::timeout(limit.min(left), (check.run)(ctx)).await {
            Ok(f) => f,
            Err(_) if left < limit => Finding::skip(format!(
                "stopped at the run's announced bound, after {} s; `--only {}` gives it the whole run",
                left.as_secs(),
                check.id
            )),
            Err(_) => Finding::warn(format!(
                "the check did not finish within {} s",
                limit.as_secs()
            )),
        },
    };
    CheckResult {
        check,
        status: check.status(finding.verdict),
        observed: finding.observed,
        duration: started.elapsed(),
    }
}

/// Time kept back from the checks for the shutdown and summary phases.
const CLOSING: Duration = Duration::from_secs(1);

/// Runs `checks` against `ctx`, returning results in the checks' order. Nothing runs past
/// `deadline` (the bound announced at the start): a check cut short there is SKIPped with why.
pub async fn run(ctx: &Ctx, checks: &[Check], quiet: bool, deadline: Instant) -> Vec<CheckResult> {
    let mut progress = Progress::new(checks.len(), quiet);
    let in_phase = |p: Phase| checks.iter().copied().filter(move |c| c.phase == p);
    let checks_end = deadline.checked_sub(CLOSING).unwrap_or(deadline);
    let background = futures_util::future::join_all(
        in_phase(Phase::Background).map(|c| run_one(ctx, c, checks_end)),
    );
    let main = async {
        let mut out = Vec::new();
        for c in in_phase(Phase::Main) {
            progress.show(&format!("{} {}", c.id, c.title));
            out.push(run_one(ctx, c, checks_end).await);
            progress.done += 1;
        }
        progress.show("waiting for the idle-stream watch");
        out
    };
    let (mut results, main) = tokio::join!(background, main);
    progress.done += results.len();
    results.extend(main);
    for phase in [Phase::Shutdown, Phase::Summary] {
        for c in in_phase(phase) {
            progress.show(&format!("{} {}", c.id, c.title));
            results.push(run_one(ctx, c, deadline).await);
            progress.done += 1;
        }
    }
    progress.finish();
    let order = |r: &CheckResult| {
        checks
            .iter()
            .position(|c| c.id == r.check.id)
            .unwrap_or(usize::MAX)
    };
    results.sort_by_key(order);
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_selectors_pick_browser_checks_only() {
        let (runner, browser) = (crate::checks::all(), crate::browser::verdicts::checks());
        let ids = |v: &[Check]| v.iter().map(|c| c.id).collect::<Vec<_>>();
        let only = |only: &[&str]| Selection {
            only: only.iter().map(|s| (*s).to_owned()).collect(),
            skip: vec![],
        };
        let (r, b) = only(&["B02"])
            .split(runner.clone(), browser.to_vec())
            .unwrap();
        assert!(r.is_empty());
        assert_eq!(ids(&b), ["B02"]);
        let (r, b) = only(&["H01"])
            .split(runner.clone(), browser.to_vec())
            .unwrap();
        assert_eq!(ids(&r), ["H01"]);
        assert_eq!(
            b.len(),
            browser.len(),
            "--only of runner checks keeps every B row"
        );
        assert!(only(&["B9"]).split(runner, browser.to_vec()).is_err());
    }

    #[test]
    fn selection_by_id_and_group() {
        let all = crate::checks::all();
        let s = Selection {
            only: vec!["h".into(), "I03".into()],
            skip: vec!["H13".into()],
        };
        let ids: Vec<_> = s.apply(all.clone()).unwrap().iter().map(|c| c.id).collect();
        assert!(
            ids.contains(&"H01")
                && ids.contains(&"I03")
                && !ids.contains(&"H13")
                && !ids.contains(&"I01")
        );
        assert!(Selection {
            only: vec!["Z9".into()],
            skip: vec![]
        }
        .apply(all)
        .is_err());
    }
}
