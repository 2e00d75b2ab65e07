//! A sender's file name is only a label. Before a file is saved under it, it is made a
//! plain name inside the chosen folder: no directories, no `..`, no device names, no
//! characters a file system refuses, not too long.

use std::path::{Path, PathBuf};

/// Bytes a saved name may take (most file systems allow 255).
const MAX_BYTES: usize = 200;

/// Names Windows reserves for devices, whatever the extension.
const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// `name` made safe to save on any platform: its last path component, with characters
/// that are illegal or confusing anywhere replaced by `_`.
pub fn safe_name(name: &str) -> String {
    let last = name
        .rsplit(['/', '\\'])
        .find(|p| !p.trim().is_empty())
        .unwrap_or("");
    let mut out: String = last
        .chars()
        .map(|c| match c {
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            c if c.is_control() || crate::protocol::is_invisible_format(c) => '_',
            c => c,
        })
        .collect();
    // Windows drops trailing dots and spaces; a leading dot hides the file.
    out = out.trim_matches(|c: char| c == ' ' || c == '.').to_string();
    let stem = out
        .split('.')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase();
    if RESERVED.contains(&stem.as_str()) {
        out = format!("_{out}");
    }
    if out.is_empty() {
        out = "file".to_string();
    }
    if out.len() > MAX_BYTES {
        out = shorten(&out);
    }
    out
}

/// Cuts a long name to [`MAX_BYTES`], keeping its extension (on a character boundary).
fn shorten(name: &str) -> String {
    let (stem, ext) = match name.rfind('.') {
        Some(i) if name.len() - i <= 16 && i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let mut cut = MAX_BYTES - ext.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", &stem[..cut])
}

/// A path for `name` inside `dir` that does not exist yet: `name`, then `name (1)`…
pub fn unused_path(dir: &Path, name: &str) -> PathBuf {
    let name = safe_name(name);
    let first = dir.join(&name);
    if !first.exists() {
        return first;
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name.as_str(), ""),
    };
    (1..)
        .map(|n| dir.join(format!("{stem} ({n}){ext}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_stay_inside_the_folder() {
        for (given, want) in [
            ("../../etc/passwd", "passwd"),
            ("/etc/shadow", "shadow"),
            ("..\\..\\Windows\\system32\\cmd.exe", "cmd.exe"),
            ("C:\\Users\\x\\evil.bat", "evil.bat"),
            ("..", "file"),
            ("", "file"),
            ("/", "file"),
            ("CON", "_CON"),
            ("nul.txt", "_nul.txt"),
            ("com1.tar.gz", "_com1.tar.gz"),
            ("report?.pdf", "report_.pdf"),
            ("a\u{202e}txt.exe", "a_txt.exe"),
            ("trailing. . ", "trailing"),
            (".bashrc", "bashrc"),
            ("نص عربي 📎.txt", "نص عربي 📎.txt"),
        ] {
            assert_eq!(safe_name(given), want, "{given:?}");
        }
        let long = format!("{}.png", "é".repeat(300));
        let s = safe_name(&long);
        assert!(s.len() <= MAX_BYTES && s.ends_with(".png"), "{s}");
        let dir = tempfile::tempdir().unwrap();
        for name in ["../../etc/passwd", "/abs/x", &long, "CON"] {
            let p = unused_path(dir.path(), name);
            assert_eq!(p.parent(), Some(dir.path()), "{name}");
        }
        std::fs::write(dir.path().join("a.txt"), b"").unwrap();
        assert_eq!(
            unused_path(dir.path(), "a.txt"),
            dir.path().join("a (1).txt")
        );
    }
}
