//! One line's meaning: blank, comment, or a field split into name and value.

use std::ops::Range;

/// What a (complete, decoded-later) line is. Ranges index into the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineKind {
    /// Empty line: dispatch.
    Blank,
    /// `:` then text (the range excludes the colon).
    Comment(Range<usize>),
    /// A field with its value range (one leading space already removed).
    Field(Name, Range<usize>),
}

/// The field names the spec gives meaning to; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Name {
    Event,
    Data,
    Id,
    Retry,
    Other,
}

/// Classifies a line. The name is everything before the first colon (the whole line when there
/// is none); the value is what follows the colon, less exactly one leading U+0020.
pub(crate) fn classify(line: &[u8]) -> LineKind {
    if line.is_empty() {
        return LineKind::Blank;
    }
    if line[0] == b':' {
        return LineKind::Comment(1..line.len());
    }
    let (name, value) = match colon(line) {
        None => (line, line.len()..line.len()),
        Some(colon) => {
            let start = if line.get(colon + 1) == Some(&b' ') {
                colon + 2
            } else {
                colon + 1
            };
            (&line[..colon], start..line.len())
        }
    };
    LineKind::Field(name_of(name), value)
}

/// The common field lines, told apart by their first bytes: `head` holds the line's first
/// eight bytes (bytes past its end may follow; they are never looked at). `None`: use
/// [`classify`]. Agrees with it wherever it answers (tested).
#[inline]
pub(crate) fn classify_head(head: u64, len: usize) -> Option<(Name, usize)> {
    const fn word(s: &[u8]) -> u64 {
        let mut w = 0;
        let mut i = 0;
        while i < s.len() {
            w |= (s[i] as u64) << (8 * i);
            i += 1;
        }
        w
    }
    const fn low(n: usize) -> u64 {
        (1 << (8 * n)) - 1
    }
    // The first byte past a name's colon decides between one and no skipped space.
    let field = |name: Name, colon: usize| {
        let space = len > colon + 1 && (head >> (8 * (colon + 1))) & 0xff == u64::from(b' ');
        Some((name, colon + 1 + usize::from(space)))
    };
    if len >= 5 && head & low(5) == word(b"data:") {
        return field(Name::Data, 4);
    }
    if len >= 3 && head & low(3) == word(b"id:") {
        return field(Name::Id, 2);
    }
    if len >= 6 && head & low(6) == word(b"event:") {
        return field(Name::Event, 5);
    }
    None
}

/// Field names are short, so the colon is usually within the first bytes: look there before
/// paying for a vectorised search over the whole line.
fn colon(line: &[u8]) -> Option<usize> {
    const NAME: usize = 8;
    let head = &line[..line.len().min(NAME)];
    if let Some(i) = head.iter().position(|&b| b == b':') {
        return Some(i);
    }
    memchr::memchr(b':', line.get(NAME..)?).map(|i| i + NAME)
}

fn name_of(name: &[u8]) -> Name {
    // Case-sensitive on purpose: `Data` is an unknown field to a browser.
    match name {
        b"data" => Name::Data,
        b"event" => Name::Event,
        b"id" => Name::Id,
        b"retry" => Name::Retry,
        _ => Name::Other,
    }
}

/// A `retry` value is accepted only when it is one or more ASCII digits: no sign, no spaces,
/// no exponent. Values past `u64::MAX` milliseconds saturate rather than being dropped, since
/// the spec accepts any digit string.
pub(crate) fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u64, |ms, &d| {
        ms.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_name_and_value() {
        assert_eq!(classify(b""), LineKind::Blank);
        assert_eq!(classify(b": hi"), LineKind::Comment(1..4));
        assert_eq!(classify(b"data: x"), LineKind::Field(Name::Data, 6..7));
        assert_eq!(classify(b"data:x"), LineKind::Field(Name::Data, 5..6));
        assert_eq!(classify(b"data:  x"), LineKind::Field(Name::Data, 6..8));
        assert_eq!(classify(b"data"), LineKind::Field(Name::Data, 4..4));
        assert_eq!(classify(b"data :x"), LineKind::Field(Name::Other, 6..7));
        assert_eq!(classify(b"Data: x"), LineKind::Field(Name::Other, 6..7));
        assert_eq!(classify(b"id: a:b"), LineKind::Field(Name::Id, 4..7));
        assert_eq!(
            classify(b"averylongname: v"),
            LineKind::Field(Name::Other, 15..16)
        );
        assert_eq!(
            classify(b"averylongnamewithoutcolon"),
            LineKind::Field(Name::Other, 25..25)
        );
    }

    #[test]
    fn the_head_classifier_agrees_with_classify() {
        let names = [
            &b"data"[..],
            b"id",
            b"event",
            b"retry",
            b"dat",
            b"i",
            b"events",
            b"Data",
        ];
        let tails = [
            &b""[..],
            b":",
            b": ",
            b":  ",
            b":x",
            b": x",
            b"x:",
            b" :",
            b"::",
        ];
        for name in names {
            for tail in tails {
                for after in [&b"\n"[..], b" ", b"\r\n  ", b"xxxxxxxxxxx"] {
                    let line = [name, tail].concat();
                    let bytes = [&line[..], after, &[0; 8]].concat();
                    let head = u64::from_le_bytes(bytes[..8].try_into().unwrap());
                    if let Some((n, start)) = classify_head(head, line.len()) {
                        let want = classify(&line);
                        assert_eq!(LineKind::Field(n, start..line.len()), want, "{line:?}");
                    }
                }
            }
        }
        assert!(classify_head(u64::from_le_bytes(*b"data: xy"), 8).is_some());
        assert!(classify_head(u64::from_le_bytes(*b"id: 7\n\nd"), 5).is_some());
    }

    #[test]
    fn retry_is_digits_only() {
        assert_eq!(parse_retry(b"1000"), Some(1000));
        assert_eq!(parse_retry(b"03000"), Some(3000));
        assert_eq!(parse_retry(b"0"), Some(0));
        assert_eq!(parse_retry(b"99999999999999999999999"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"+1",
            b"-1",
            b"1e3",
            b"1.5",
            b"10 ",
            b" 10",
            b"abc",
            b"\xD9\xA1",
        ] {
            assert_eq!(parse_retry(bad), None, "{bad:?}");
        }
    }
}
