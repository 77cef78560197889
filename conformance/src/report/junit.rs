//! The JUnit XML report (`--junit FILE`): one `<testcase>` per check, FAIL as `<failure>`,
//! SKIP as `<skipped>`, WARN and INFO as passing cases with the observation in `<system-out>`
//! (SHOULDs never break a CI build; MUSTs do).

use std::fmt::Write;

use super::Report;
use crate::checks::Status;

/// Escapes text for XML attributes and content.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The report as JUnit XML.
pub fn to_string(report: &Report) -> String {
    let s = report.summary();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let secs = report.duration.as_secs_f64();
    let _ = writeln!(
        x,
        "<testsuites name=\"ssekit check\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{secs:.3}\">",
        report.results.len(),
        s.fail,
        s.skip
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"ssekit check {}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{secs:.3}\">",
        escape(&report.target),
        report.results.len(),
        s.fail,
        s.skip
    );
    for r in &report.results {
        let _ = write!(
            x,
            "    <testcase classname=\"ssekit.check.{}\" name=\"{} [{}] {}\" time=\"{:.3}\">",
            r.check.group(),
            r.check.id,
            r.check.level,
            escape(r.check.title),
            r.duration.as_secs_f64()
        );
        let observed = escape(&r.observed);
        match r.status {
            Status::Fail => {
                let _ = write!(
                    x,
                    "\n      <failure message=\"{observed}\" type=\"{}\">{}\nbrowser: {}\nfix: {}\nreference: {}</failure>\n    ",
                    r.check.level,
                    observed,
                    escape(r.check.browser),
                    escape(r.check.fix),
                    escape(r.check.reference)
                );
            }
            Status::Skip => {
                let _ = write!(x, "\n      <skipped message=\"{observed}\"/>\n    ");
            }
            status => {
                let _ = write!(
                    x,
                    "\n      <system-out>{status}: {observed}</system-out>\n    "
                );
            }
        }
        x.push_str("</testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
