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
