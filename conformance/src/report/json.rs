//! The JSON report (`--json FILE`), schema `ssekit-check/1`:
//!
//! ```text
//! { "schema": "ssekit-check/1", "target": URL, "profile": "quick"|"full",
//!   "started_unix": SECONDS, "duration_ms": MS, "exit_code": 0|1,
//!   "summary": { "pass": N, "fail": N, "warn": N, "skip": N, "info": N },
//!   "checks": [ { "id": "H01", "group": "H", "title": TEXT,
//!                 "level": "MUST"|"SHOULD"|"INFO", "basis": "spec"|"practice"|"recommendation",
//!                 "status": "PASS"|"FAIL"|"WARN"|"SKIP"|"INFO",
//!                 "observed": TEXT, "reference": TEXT, "browser": TEXT, "fix": TEXT,
//!                 "duration_ms": MS } ] }
//! ```
//! With `--browser`, B checks (group `B`) join `checks`, and a top-level `"browser"` object
//! holds the session: `observation` (`chromium`, `page_url`, `with_credentials`,
//! `listened_types`, `page`: what the page recorded, `requests`: each request through the
//! recording proxy with `last_event_id`, `status`, `events`, `retry`, `at_ms`/`ended_ms`, `end`;
//! `published`, `notes`, `cross_origin`: B06's page origin, what the page saw, the runner's
//! own answer and its prediction), `error` (why no session ran) and `disagreements`
//! (`{check, browser, runner: [[ID, STATUS]], note}`).
//! Fields are only ever added, never renamed or removed, while the schema stays `/1`.

use serde::Serialize;

use super::{Report, Summary};
use crate::checks::{Basis, Level, Status};

/// The schema identifier.
pub const SCHEMA: &str = "ssekit-check/1";

#[derive(Serialize)]
struct Doc<'a> {
    schema: &'static str,
    target: &'a str,
    profile: &'a str,
    started_unix: u64,
    duration_ms: u64,
    exit_code: u8,
    summary: Summary,
    checks: Vec<Entry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    browser: Option<&'a crate::browser::BrowserReport>,
}

#[derive(Serialize)]
struct Entry<'a> {
    id: &'a str,
    group: &'a str,
    title: &'a str,
    level: Level,
    basis: Basis,
    status: Status,
    observed: &'a str,
    reference: &'a str,
    browser: &'a str,
    fix: &'a str,
    duration_ms: u64,
}

/// The report as a JSON value.
pub fn to_value(report: &Report) -> serde_json::Value {
    let doc = Doc {
        schema: SCHEMA,
        target: &report.target,
        profile: report.profile,
        started_unix: report.started_unix,
        duration_ms: u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
        exit_code: report.exit_code(),
        summary: report.summary(),
        checks: report
            .results
            .iter()
            .map(|r| Entry {
                id: r.check.id,
                group: r.check.group(),
                title: r.check.title,
                level: r.check.level,
                basis: r.check.basis,
                status: r.status,
                observed: &r.observed,
                reference: r.check.reference,
                browser: r.check.browser,
                fix: r.check.fix,
                duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
            })
            .collect(),
        browser: report.browser.as_ref(),
    };
    serde_json::to_value(doc).unwrap_or_default()
}

/// The report as pretty JSON text.
pub fn to_string(report: &Report) -> String {
    serde_json::to_string_pretty(&to_value(report)).unwrap_or_default()
}
