//! Recognises the runner's own published events in what a subscriber receives.
//!
//! Every payload the runner publishes carries a distinctive token, `{nonce} {check} {seq}`, in
//! `ssekit-check {nonce} {check} {seq} {pad}`. Real publish hooks do not always emit the string
//! they were given: express tutorials write `data: ${JSON.stringify(x)}`, better-sse's default
//! serializer JSON-encodes, others wrap it in an envelope (`{"message": …, "ts": …}`). The token
//! is made of hex digits, letters, digits and spaces, which no JSON encoder escapes, so it
//! survives all of these. Delivery and latency are judged by the token; whether the data came
//! back byte-exact is reported separately ([`Fidelity`]) and judged by F07 alone.

use std::fmt;

/// How a received data string relates to the payload that was published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fidelity {
    /// Byte-exact.
    Exact,
    /// The JSON string literal of the payload (`JSON.stringify(data)`).
    JsonQuoted,
    /// The payload, raw or JSON-escaped, inside more text (an envelope).
    Wrapped,
    /// The start of the payload only.
    Truncated,
    /// Some other change.
    Changed,
}

impl Fidelity {
    /// Whether the data came back exactly as published.
    pub fn is_exact(self) -> bool {
        self == Fidelity::Exact
    }
}

impl fmt::Display for Fidelity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fidelity::Exact => "byte-exact",
            Fidelity::JsonQuoted => "JSON-quoted",
            Fidelity::Wrapped => "wrapped in an envelope",
            Fidelity::Truncated => "truncated",
            Fidelity::Changed => "changed",
        })
    }
}

/// How `received` relates to `sent`, the data that was published.
pub fn fidelity(sent: &str, received: &str) -> Fidelity {
    if received == sent {
        return Fidelity::Exact;
    }
    let quoted = json_quoted(sent);
    if received == quoted {
        return Fidelity::JsonQuoted;
    }
    // The escaped form without its quotes: what a JSON envelope holds.
    let escaped = &quoted[1..quoted.len() - 1];
    if !sent.is_empty() && (received.contains(sent) || received.contains(escaped)) {
        return Fidelity::Wrapped;
    }
    if is_truncation(sent, received) || is_truncation(escaped, received) {
        return Fidelity::Truncated;
    }
    Fidelity::Changed
}

/// How `received` relates to a payload published as `sent` that a faithful server delivers as
/// `expected` (SSE turns CR and CRLF in data into LF): [`Fidelity::Exact`] when it is
/// `expected`, else the closest relation to either (a JSON encoder quotes `sent`, CRs and all).
pub fn how_altered(sent: &str, expected: &str, received: &str) -> Fidelity {
    if received == expected {
        return Fidelity::Exact;
    }
    fidelity(expected, received).min(fidelity(sent, received))
}

/// The first of `received` that holds the payload (`sent`, delivered as `expected`) in some
/// recognisable form: for hooks that drop the event type the runner finds its events by.
pub fn recognise<'a>(received: &[&'a str], sent: &str, expected: &str) -> Option<&'a str> {
    received
        .iter()
        .copied()
        .find(|r| how_altered(sent, expected, r) != Fidelity::Changed)
}

/// The JSON string literal of `s`, as `JSON.stringify` writes it.
fn json_quoted(s: &str) -> String {
    // Serialising a `&str` cannot fail; the fallback keeps this panic-free all the same.
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// Whether `received` holds a proper, non-trivial prefix of `sent` running to its end (or to
/// the closing quote and braces of an envelope).
fn is_truncation(sent: &str, received: &str) -> bool {
    // Long enough that a prefix is not a coincidence; shorter payloads are `Changed`.
    const ANCHOR: usize = 12;
    let Some(anchor) = sent.get(..ANCHOR) else {
        return false;
    };
    let Some(start) = received.find(anchor) else {
        return false;
    };
    let tail = &received[start..];
    let trimmed = tail.trim_end_matches(['"', '}', ']', ' ', '\n']);
    [tail, trimmed]
        .iter()
        .any(|t| t.len() < sent.len() && sent.starts_with(t))
}

/// One check's published payloads: `ssekit-check {nonce} {check} {seq} {pad}`.
#[derive(Debug, Clone)]
pub struct Payloads {
    /// `{nonce} {check} `: the part of the token before the sequence number.
    token: String,
    width: usize,
    pad: String,
}

impl Payloads {
    /// Payloads for `check` in the run `nonce`, numbered with `width` digits and followed by
    /// `pad_len` bytes of padding (none when 0).
    pub fn new(nonce: &str, check: &str, width: usize, pad_len: usize) -> Self {
        Payloads {
            token: format!("{nonce} {check} "),
            width,
            pad: "x".repeat(pad_len),
        }
    }

    /// The data published as number `seq`.
    pub fn payload(&self, seq: u64) -> String {
        let width = self.width;
        let mut s = format!("ssekit-check {}{seq:0width$}", self.token);
        if !self.pad.is_empty() {
            s.push(' ');
            s.push_str(&self.pad);
        }
        s
    }

    /// The sequence number of the payload found in `received` (anywhere in it, JSON-escaped or
    /// not), and how faithfully it came back; `None` when it holds none of these payloads.
    pub fn find(&self, received: &str) -> Option<Found> {
        let seq = self.seq_in(received)?;
        Some(Found {
            seq,
            fidelity: fidelity(&self.payload(seq), received),
        })
    }

    /// The number after the first occurrence of the token that is followed by digits.
    fn seq_in(&self, received: &str) -> Option<u64> {
        let mut rest = received;
        while let Some(at) = rest.find(&self.token) {
            rest = &rest[at + self.token.len()..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                // Too many digits to be ours (overflow): keep looking.
                if let Ok(seq) = rest[..digits].parse() {
                    return Some(seq);
                }
            }
        }
        None
    }
}

/// A published payload recognised in received data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Its sequence number.
    pub seq: u64,
    /// Whether it came back byte-exact.
    pub fidelity: Fidelity,
}

/// Tallies how payloads came back, for one sentence in a check's observation.
#[derive(Debug, Clone, Default)]
pub struct Alterations {
    seen: u64,
    altered: Vec<(Fidelity, u64)>,
}

impl Alterations {
    /// Counts one received payload.
    pub fn add(&mut self, fidelity: Fidelity) {
        self.seen += 1;
        if fidelity.is_exact() {
            return;
        }
        match self.altered.iter_mut().find(|(f, _)| *f == fidelity) {
            Some((_, n)) => *n += 1,
            None => self.altered.push((fidelity, 1)),
        }
    }

    /// Whether any payload came back altered.
    pub fn any(&self) -> bool {
        !self.altered.is_empty()
    }

    /// `the publish hook re-encodes data (JSON-quoted: 20 of 20)`, or `None` when every
    /// payload came back byte-exact or merely [`Fidelity::Changed`] (a serializer bug, not a
    /// re-encoding: F07 names it).
    pub fn note(&self) -> Option<String> {
        if self.altered.iter().all(|(f, _)| *f == Fidelity::Changed) {
            return None;
        }
        let mut kinds = self.altered.clone();
        kinds.sort_unstable();
        let how: Vec<String> = kinds
            .iter()
            .map(|(f, n)| format!("{f}: {n} of {}", self.seen))
            .collect();
        Some(format!(
            "the publish hook re-encodes data ({})",
            how.join(", ")
        ))
    }

    /// [`Self::note`] for a check that judges delivery: it says what was judged instead.
    pub fn delivery_note(&self) -> Option<String> {
        self.note()
            .map(|n| format!("{n}: delivery judged by the runner's tag, the bytes by F07"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t01() -> Payloads {
        Payloads::new("18c0ffee", "t01", 4, 8)
    }

    #[test]
    fn payloads_have_the_documented_shape() {
        assert_eq!(t01().payload(3), "ssekit-check 18c0ffee t01 0003 xxxxxxxx");
        assert_eq!(
            Payloads::new("ab", "s04", 5, 0).payload(12),
            "ssekit-check ab s04 00012"
        );
    }

    #[test]
    fn exact_payloads_are_found() {
        let p = t01();
        let found = p.find(&p.payload(7)).unwrap();
        assert_eq!(found.seq, 7);
        assert_eq!(found.fidelity, Fidelity::Exact);
    }

    #[test]
    fn json_quoted_payloads_are_found_and_named() {
        let p = t01();
        let quoted = format!("\"{}\"", p.payload(3));
        let found = p.find(&quoted).unwrap();
        assert_eq!((found.seq, found.fidelity), (3, Fidelity::JsonQuoted));
    }

    #[test]
    fn envelopes_are_found_and_named() {
        let p = t01();
        let wrapped = format!(r#"{{"message":"{}","ts":1712}}"#, p.payload(11));
        let found = p.find(&wrapped).unwrap();
        assert_eq!((found.seq, found.fidelity), (11, Fidelity::Wrapped));
    }

    #[test]
    fn truncated_payloads_are_found_and_named() {
        let p = t01();
        let full = p.payload(2);
        let found = p.find(&full[..full.len() - 3]).unwrap();
        assert_eq!((found.seq, found.fidelity), (2, Fidelity::Truncated));
        let cut_in_envelope = format!(r#"{{"message":"{}"}}"#, &full[..full.len() - 3]);
        assert_eq!(
            p.find(&cut_in_envelope).unwrap().fidelity,
            Fidelity::Truncated
        );
    }

    #[test]
    fn other_checks_and_runs_do_not_match() {
        let p = t01();
        assert!(p
            .find(&Payloads::new("18c0ffee", "s01", 4, 8).payload(3))
            .is_none());
        assert!(p
            .find(&Payloads::new("99", "t01", 4, 8).payload(3))
            .is_none());
        assert!(p.find("").is_none());
        assert!(p.find("18c0ffee t01 ").is_none());
        assert!(p.find("18c0ffee t01 99999999999999999999999").is_none());
    }

    #[test]
    fn the_sequence_number_is_read_past_a_false_start() {
        let p = t01();
        assert_eq!(p.find("18c0ffee t01 x 18c0ffee t01 0042").unwrap().seq, 42);
    }

    #[test]
    fn fidelity_of_control_characters() {
        assert_eq!(fidelity("a\nb", "\"a\\nb\""), Fidelity::JsonQuoted);
        assert_eq!(
            fidelity("nul\0byte", "\"nul\\u0000byte\""),
            Fidelity::JsonQuoted
        );
        assert_eq!(fidelity("a\nb", "a\nb"), Fidelity::Exact);
        assert_eq!(fidelity("a\nb", "b"), Fidelity::Changed);
        assert_eq!(fidelity("", "x"), Fidelity::Changed);
    }

    #[test]
    fn payloads_without_their_event_type_are_recognised_by_content() {
        let received = ["tick 1", r#"{"message":"a\r\nb","ts":1}"#, "a\nb"];
        assert_eq!(recognise(&received, "a\r\nb", "a\nb"), Some(received[1]));
        assert_eq!(how_altered("a\r\nb", "a\nb", "a\nb"), Fidelity::Exact);
        assert_eq!(recognise(&received, "zz", "zz"), None);
    }

    #[test]
    fn alterations_name_each_kind_once() {
        let mut a = Alterations::default();
        a.add(Fidelity::Exact);
        assert_eq!(a.note(), None);
        a.add(Fidelity::Changed);
        assert_eq!(
            a.note(),
            None,
            "a changed payload is F07's serializer finding"
        );
        a.add(Fidelity::JsonQuoted);
        a.add(Fidelity::JsonQuoted);
        let note = a.note().unwrap();
        assert!(
            note.starts_with(
                "the publish hook re-encodes data (JSON-quoted: 2 of 4, changed: 1 of 4)"
            ),
            "{note}"
        );
    }
}
