//! Text that came from a stranger (a target's response, an error about it) made safe to
//! store and show.
//!
//! The rule, the same everywhere a run's record holds such text:
//! - bytes are read as UTF-8, and each invalid sequence becomes U+FFFD (the replacement
//!   character), as a browser shows it;
//! - NUL becomes U+FFFD too: PostgreSQL text cannot hold it, and one such byte used to make
//!   a whole batch of runs unrecordable;
//! - a body cut at its size limit loses the character the cut went through, rather than
//!   gaining a U+FFFD that the target never sent;
//! - in header values and error texts, control characters become U+FFFD as well, and the
//!   text is cut to a bounded length: they are one-line labels, not documents.

/// Longest stored `Content-Type`, in characters.
pub const MAX_HEADER_CHARS: usize = 256;
/// Longest stored error text, in characters.
pub const MAX_ERROR_CHARS: usize = 1_024;

const REPLACEMENT: char = char::REPLACEMENT_CHARACTER;

/// A response body (at most the bytes that were kept) as storable text. `cut` says the body
/// went on past these bytes, so an incomplete character at the end is a cut, not an error.
pub fn body(bytes: &[u8], cut: bool) -> String {
    let bytes = if cut { without_cut_char(bytes) } else { bytes };
    String::from_utf8_lossy(bytes).replace('\0', "\u{FFFD}")
}

/// A header value's bytes as a one-line label.
pub fn header(bytes: &[u8]) -> String {
    label(&String::from_utf8_lossy(bytes), MAX_HEADER_CHARS)
}

/// An error text (which may quote what a target sent) as a one-line label.
pub fn error(text: &str) -> String {
    label(text, MAX_ERROR_CHARS)
}

fn label(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() { REPLACEMENT } else { c })
        .collect();
    if text.chars().nth(max_chars).is_some() {
        out.pop();
        out.push('…');
    }
    out
}

/// `bytes` without a trailing character that the cut left incomplete.
fn without_cut_char(bytes: &[u8]) -> &[u8] {
    // A UTF-8 character is at most 4 bytes: look at most 3 back for its first byte.
    for back in 1..=bytes.len().min(4) {
        let at = bytes.len() - back;
        let byte = bytes[at];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: the character starts further back
        }
        let needed = match byte {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return bytes, // not a lead byte: invalid anyway, replaced as such
        };
        return if needed > back { &bytes[..at] } else { bytes };
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_invalid_sequences_become_replacement_characters() {
        assert_eq!(body(b"a\0b", false), "a\u{FFFD}b");
        assert_eq!(body(b"ok \xff\xfe end", false), "ok \u{FFFD}\u{FFFD} end");
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        let text = body(png, false);
        assert!(!text.contains('\0'));
        assert!(text.starts_with('\u{FFFD}') && text.contains("PNG"));
        // Valid text, multi-byte included, is kept as it is.
        assert_eq!(body("naïve — 漢字 🦀".as_bytes(), false), "naïve — 漢字 🦀");
    }

    #[test]
    fn a_character_cut_by_the_size_limit_is_dropped_not_replaced() {
        let crab = "🦀".as_bytes(); // four bytes
        for keep in 1..4 {
            let mut bytes = b"ab".to_vec();
            bytes.extend_from_slice(&crab[..keep]);
            assert_eq!(body(&bytes, true), "ab", "{keep} of 4 bytes kept");
            // Not cut by us: the target sent a broken character, which shows.
            assert_eq!(body(&bytes, false), "ab\u{FFFD}");
        }
        assert_eq!(body("ab🦀".as_bytes(), true), "ab🦀");
        assert_eq!(body("é".as_bytes(), true), "é");
        assert_eq!(body(&"é".as_bytes()[..1], true), "");
        assert_eq!(body(b"", true), "");
        // A stray continuation byte at the end is invalid, not a cut character.
        assert_eq!(body(b"ab\x80", true), "ab\u{FFFD}");
    }

    #[test]
    fn labels_are_one_bounded_line() {
        assert_eq!(
            header(b"text/plain; charset=\xff"),
            "text/plain; charset=\u{FFFD}"
        );
        assert_eq!(
            error("bad\r\nheader\0\x1b[31m"),
            "bad\u{FFFD}\u{FFFD}header\u{FFFD}\u{FFFD}[31m"
        );
        let long = "x".repeat(5_000);
        let cut = error(&long);
        assert_eq!(cut.chars().count(), MAX_ERROR_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(
            error(&"y".repeat(MAX_ERROR_CHARS)).chars().count(),
            MAX_ERROR_CHARS
        );
        assert!(!error(&"y".repeat(MAX_ERROR_CHARS)).ends_with('…'));
    }
}
