//! The network checks, one module per group. Each check is a value: id, level, the basis of
//! its rule and the source it cites, what a browser does when it fails, how to fix it, and the
//! function that runs it against a [`Ctx`].

use std::fmt;

use serde::Serialize;

use crate::context::Ctx;
use crate::target::BoxFuture;

pub mod cors;
pub mod finite;
pub mod framing;
pub mod http;
pub mod ids;
pub mod keepalive;
pub mod longpoll;
pub mod published;
pub mod retry;
pub mod scale;
pub mod transport;

/// How binding a rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// Normative, or a conforming browser fails: a violation is a FAIL and exit status 1.
    Must,
    /// Production practice: a violation is a WARN.
    Should,
    /// Reported only.
    Info,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::Info => "INFO",
        })
    }
}

/// Where a check's rule comes from. Only a rule the specifications state is a MUST: a
/// conformance tool that fails a build for advice it made up is not trusted for long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// Required by HTML §9.2, RFC 9110/9112/9113 or Fetch, cited in the reference.
    Spec,
    /// What deployments need to work in production (the reference cites the breakage), not
    /// a rule of the specifications.
    Practice,
    /// The runner's own recommendation: a good default that no specification states.
    Recommendation,
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Basis::Spec => "specification",
            Basis::Practice => "production practice",
            Basis::Recommendation => "the runner's recommendation",
        })
    }
}

/// The verdict printed for a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Satisfied.
    Pass,
    /// A MUST was violated.
    Fail,
    /// A SHOULD was violated, or a MUST check saw something suspicious but legal.
    Warn,
    /// Not run, with the reason in `observed`.
    Skip,
    /// Reported only.
    Info,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Warn => "WARN",
            Status::Skip => "SKIP",
            Status::Info => "INFO",
        })
    }
}

/// What a check's run function decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The rule holds.
    Pass,
    /// The rule is broken: FAIL for MUST, WARN for SHOULD.
    Violation,
    /// Worth a warning whatever the level.
    Warn,
    /// Could not be checked.
    Skip,
    /// Report only.
    Info,
}

/// A verdict and what was observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The decision.
    pub verdict: Verdict,
    /// What the runner saw (or why it skipped).
    pub observed: String,
}

impl Finding {
    /// The rule holds.
    pub fn pass(observed: impl Into<String>) -> Self {
        Finding {
            verdict: Verdict::Pass,
            observed: observed.into(),
        }
    }
    /// The rule is broken.
    pub fn violation(observed: impl Into<String>) -> Self {
        Finding {
            verdict: Verdict::Violation,
            observed: observed.into(),
        }
    }
    /// A warning.
    pub fn warn(observed: impl Into<String>) -> Self {
        Finding {
            verdict: Verdict::Warn,
            observed: observed.into(),
        }
    }
    /// Not checked, and why.
    pub fn skip(reason: impl Into<String>) -> Self {
        Finding {
            verdict: Verdict::Skip,
            observed: reason.into(),
        }
    }
    /// Report only.
    pub fn info(observed: impl Into<String>) -> Self {
        Finding {
            verdict: Verdict::Info,
            observed: observed.into(),
        }
    }
}

/// When a check runs relative to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Long watches that run alongside everything else (idle-stream heartbeat).
    Background,
    /// One after the other.
    Main,
    /// Stops the server (embedded target only): after everything that needs it.
    Shutdown,
    /// Judges what the whole run saw (status codes, server-closed streams).
    Summary,
}

/// The function that runs one check.
pub type RunFn = for<'a> fn(&'a Ctx) -> BoxFuture<'a, Finding>;

/// One conformance check.
#[derive(Clone, Copy)]
pub struct Check {
    /// Stable id (`H01` ... `L01`), used by `--only` / `--skip` and in reports.
    pub id: &'static str,
    /// MUST / SHOULD / INFO.
    pub level: Level,
    /// Where the rule comes from (a MUST is always [`Basis::Spec`]).
    pub basis: Basis,
    /// One line: what is checked.
    pub title: &'static str,
    /// Spec section, WPT test or issue the rule comes from.
    pub reference: &'static str,
    /// What a browser (or proxy) does when the rule is broken.
    pub browser: &'static str,
    /// How to fix a violation.
    pub fix: &'static str,
    /// When it runs.
    pub phase: Phase,
    /// The check itself.
    pub run: RunFn,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}) {}", self.id, self.level, self.title)
    }
}

impl Check {
    /// The status a verdict becomes at this check's level.
    pub fn status(&self, verdict: Verdict) -> Status {
        match (verdict, self.level) {
            (Verdict::Pass, _) => Status::Pass,
            (Verdict::Violation, Level::Must) => Status::Fail,
            (Verdict::Violation, Level::Should) => Status::Warn,
            (Verdict::Violation, Level::Info) => Status::Info,
            // An INFO row reports; it never shows a warning colour or counts as one.
            (Verdict::Warn, Level::Info) => Status::Info,
            (Verdict::Warn, _) => Status::Warn,
            (Verdict::Skip, _) => Status::Skip,
            (Verdict::Info, _) => Status::Info,
        }
    }

    /// The group letter (`H`, `F`, ...).
    pub fn group(&self) -> &'static str {
        &self.id[..1]
    }
}

/// Every check, in report order.
pub fn all() -> Vec<Check> {
    let mut checks = Vec::new();
    checks.extend(http::checks());
    checks.extend(framing::checks());
    checks.extend(ids::checks());
    checks.extend(retry::checks());
    checks.extend(keepalive::checks());
    checks.extend(transport::checks());
    checks.extend(scale::checks());
    checks.extend(cors::checks());
    checks.extend(longpoll::checks());
    checks.extend(finite::checks());
    checks
}

/// Runs a baseline-based judgement: skips when the baseline failed or the stream did not open.
pub async fn on_stream(
    ctx: &Ctx,
    judge: impl FnOnce(&crate::context::Baseline) -> Finding,
) -> Finding {
    match ctx.baseline().await {
        Err(e) => Finding::skip(format!("the stream could not be read: {e}")),
        Ok(b) if !b.streaming() => Finding::skip(format!(
            "the stream did not open (status {}); see H01",
            b.status
        )),
        Ok(b) => judge(b),
    }
}

/// Shortens `text` to `max` characters for a report line, escaping control characters.
pub fn show(text: &str, max: usize) -> String {
    let escaped: String = text.escape_debug().collect();
    if escaped.chars().count() <= max {
        return escaped;
    }
    let mut out: String = escaped.chars().take(max).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_every_group_is_present() {
        let checks = all();
        let mut ids: Vec<_> = checks.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), before, "duplicate check ids");
        for group in ["H", "F", "I", "R", "K", "T", "S", "C", "L", "P"] {
            assert!(
                checks.iter().any(|c| c.group() == group),
                "group {group} missing"
            );
        }
        // 56 checks of the H F I R K T S C L groups, H14 (compression that holds the stream)
        // and the 9 P checks of streams opened by a request (P08: MCP sessions; P09: what the
        // run sent that can start a generation).
        assert_eq!(checks.len(), 67);
    }

    #[test]
    fn every_must_rests_on_a_specification_it_cites() {
        let normative = ["HTML §9.2", "RFC 9110", "RFC 9112", "RFC 9113", "Fetch"];
        for c in all() {
            assert_eq!(
                c.level == Level::Must,
                c.basis == Basis::Spec,
                "{}: MUST exactly when the rule is the specification's",
                c.id
            );
            if c.basis == Basis::Spec {
                assert!(
                    normative.iter().any(|n| c.reference.starts_with(n)),
                    "{}: a MUST cites its normative source first: {}",
                    c.id,
                    c.reference
                );
            }
        }
    }

    #[test]
    fn info_rows_never_warn() {
        let mut c = all()[0];
        c.level = Level::Info;
        assert_eq!(c.status(Verdict::Warn), Status::Info);
        assert_eq!(c.status(Verdict::Violation), Status::Info);
    }

    #[test]
    fn violations_map_to_the_level() {
        let mut c = all()[0];
        c.level = Level::Must;
        assert_eq!(c.status(Verdict::Violation), Status::Fail);
        c.level = Level::Should;
        assert_eq!(c.status(Verdict::Violation), Status::Warn);
    }
}
