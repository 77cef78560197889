//! Stream decoding: the leading byte order mark and UTF-8 with replacement.
//!
//! Line ends are ASCII and never part of a multi-byte sequence, so decoding line by line gives
//! the same text as decoding the whole stream: an incomplete sequence before a line end is one
//! U+FFFD, exactly as the WHATWG UTF-8 decoder emits before reprocessing the CR or LF.

/// The UTF-8 byte order mark, dropped once at the start of a stream.
pub(crate) const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// `bytes` as text when they are valid UTF-8 (SIMD-checked: this is on every value's path).
pub(crate) fn as_str(bytes: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(bytes).ok()
}

/// Appends `bytes` to `out`, one U+FFFD per maximal invalid subpart (as the WHATWG decoder).
pub(crate) fn push_lossy(out: &mut String, bytes: &[u8]) {
    // Short ASCII values (ids, event types) are most of what comes here: pushed as chars they
    // cost a word check, not a validator call.
    if bytes.len() <= 16 && bytes.is_ascii() {
        out.extend(bytes.iter().map(|&b| char::from(b)));
        return;
    }
    // Valid text is the common case: one SIMD check covers it, and only the
    // tail after the first error needs the byte-wise replacement walk.
    let (valid, rest) = match as_str(bytes) {
        Some(text) => (text, &[][..]),
        None => {
            let e = std::str::from_utf8(bytes)
                .err()
                .map_or(bytes.len(), |e| e.valid_up_to());
            let (head, tail) = bytes.split_at(e);
            (std::str::from_utf8(head).unwrap_or_default(), tail)
        }
    };
    out.push_str(valid);
    if rest.is_empty() {
        return;
    }
    for chunk in rest.utf8_chunks() {
        out.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacement_matches_std_lossy() {
        for bytes in [
            &b"\xE2\x82"[..],
            b"\xFF\xFE",
            b"\xC0\xAF",
            b"\xED\xA0\x80",
            b"ok\xF0\x9F\x98",
            b"",
            b"1234",
            b"0123456789abcdef",
            b"0123456789abcdefg",
            b"delta\xFF",
            b"\xC3\xA9",
        ] {
            let mut s = String::from("kept ");
            push_lossy(&mut s, bytes);
            assert_eq!(s, format!("kept {}", String::from_utf8_lossy(bytes)));
        }
    }
}
