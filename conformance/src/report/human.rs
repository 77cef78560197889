//! The human report: one line per check, then what to do about each FAIL and WARN.

use std::io::{self, Write};

use super::{Gate, Report};
use crate::checks::Status;

/// Whether to use ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// Colours.
    On,
    /// Plain text.
    Off,
}

fn paint(color: Color, status: Status) -> (&'static str, &'static str) {
    if color == Color::Off {
        return ("", "");
    }
    let code = match status {
        Status::Pass => "\x1b[32m",
        Status::Fail => "\x1b[1;31m",
        Status::Warn => "\x1b[33m",
        Status::Skip => "\x1b[2m",
        Status::Info => "\x1b[36m",
    };
    (code, "\x1b[0m")
}

/// Writes the table and the advice for problems.
pub fn write(report: &Report, color: Color, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "ssekit check {} ({} profile)",
        report.target, report.profile
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<4} {:<6} {:<6} CHECK: OBSERVED",
        "ID", "LEVEL", "STATUS"
    )?;
    for r in &report.results {
        let (on, off) = paint(color, r.status);
        let line = one_line(&format!("{}: {}", r.check.title, r.observed), 220);
        writeln!(
            out,
            "{:<4} {:<6} {on}{:<6}{off} {line}",
            r.check.id,
            r.check.level.to_string(),
            r.status.to_string()
        )?;
    }
    let problems: Vec<_> = report
        .results
        .iter()
        .filter(|r| matches!(r.status, Status::Fail | Status::Warn))
        .collect();
    if !problems.is_empty() {
        writeln!(out)?;
        writeln!(out, "What to do")?;
        for r in problems {
            let (on, off) = paint(color, r.status);
            writeln!(
                out,
                "{on}{} {}{off} {}",
                r.status, r.check.id, r.check.title
            )?;
            writeln!(out, "    observed:  {}", r.observed)?;
            writeln!(out, "    browser:   {}", r.check.browser)?;
            writeln!(out, "    fix:       {}", r.check.fix)?;
            writeln!(
                out,
                "    source:    {}: {}",
                r.check.basis, r.check.reference
            )?;
        }
    }
    if let Some(browser) = &report.browser {
        write_browser(browser, out)?;
    }
    let s = report.summary();
    writeln!(out)?;
    let verdict = match (report.exit_code(), report.gate) {
        (0, Gate::Must) => "passed: no MUST violated",
        (0, Gate::Strict) => "passed: no MUST violated, nothing warned (--strict)",
        (_, Gate::Strict) if s.fail == 0 => "FAILED: a SHOULD is violated (--strict)",
        _ => "FAILED: a MUST is violated",
    };
    writeln!(
        out,
        "{} checks in {:.1} s: {} pass, {} fail, {} warn, {} skip, {} info; {verdict}",
        report.results.len(),
        report.duration.as_secs_f64(),
        s.pass,
        s.fail,
        s.warn,
        s.skip,
        s.info
    )
}

/// `text` on one table line: at most `max` characters, cut at a word boundary with `…` (the
/// full text of every FAIL and WARN follows under "What to do").
fn one_line(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    let at = cut.rfind(' ').filter(|&i| i > max / 2).unwrap_or(cut.len());
    format!("{}…", cut[..at].trim_end_matches([',', ';', ':']))
}

/// The browser session's summary and every disagreement with the runner.
fn write_browser(b: &crate::browser::BrowserReport, out: &mut impl Write) -> io::Result<()> {
    writeln!(out)?;
    match (&b.observation, &b.error) {
        (Some(o), _) => writeln!(
            out,
            "Browser: {} ran the page {} (withCredentials {}): {} requests through the recording proxy",
            o.chromium,
            o.page_url,
            o.with_credentials,
            o.requests.len()
        )?,
        (None, Some(e)) => writeln!(out, "Browser: no session ({e})")?,
        (None, None) => {}
    }
    if let Some(o) = &b.observation {
        for (i, x) in o.requests.iter().enumerate() {
            writeln!(
                out,
                "    #{} {:?} at {} ms: Last-Event-ID {}, answered {}, {} events{}{}",
                i + 1,
                x.route,
                x.at_ms,
                x.last_event_id.as_deref().unwrap_or("(none)"),
                x.status.map_or("nothing".into(), |s| s.to_string()),
                x.events.len(),
                x.retry.map_or(String::new(), |r| format!(", retry {r}")),
                x.end
                    .as_ref()
                    .map_or(String::new(), |e| format!(", ended: {e:?}"))
            )?;
        }
    }
    if b.disagreements.is_empty() {
        return Ok(());
    }
    writeln!(out, "Runner and browser disagree")?;
    for d in &b.disagreements {
        writeln!(out, "    {}", d.note)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn long_lines_are_cut_between_words() {
        assert_eq!(one_line("short", 10), "short");
        assert_eq!(
            one_line("carries connection: keep-alive", 24),
            "carries connection…"
        );
        assert_eq!(one_line("abcdefghijkl", 5), "abcde…");
    }
}
