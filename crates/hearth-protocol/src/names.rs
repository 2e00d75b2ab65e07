//! Display names: what makes one valid, and the invisible characters that are removed
//! so that one name cannot pass for another.

use crate::MAX_NAME_CHARS;

/// Validates a display name: invisible format characters removed (see
/// [`is_invisible_format`]), then trimmed, 1..=64 characters, no control characters.
pub fn normalize_name(name: &str) -> Option<String> {
    let visible: String = name.chars().filter(|c| !is_invisible_format(*c)).collect();
    let n = visible.trim();
    if n.is_empty() || n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control) {
        None
    } else {
        Some(n.to_string())
    }
}

/// Characters that change how a name displays without being seen: bidirectional
/// controls (`\u{202E}ecilA` shows as "Alice"), zero-width spaces, invisible fillers.
/// Zero-width joiner and non-joiner stay: emoji sequences and Persian need them.
pub fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}'                 // soft hyphen
        | '\u{061C}'               // Arabic letter mark
        | '\u{115F}' | '\u{1160}' // Hangul choseong/jungseong fillers
        | '\u{180E}'               // Mongolian vowel separator
        | '\u{200B}'               // zero-width space
        | '\u{200E}' | '\u{200F}' // left-to-right / right-to-left marks
        | '\u{202A}'..='\u{202E}' // embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}' // isolates
        | '\u{3164}' | '\u{FFA0}' // Hangul fillers
        | '\u{FEFF}'               // zero-width no-break space (BOM)
    )
}
