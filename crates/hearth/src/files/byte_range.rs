//! HTTP byte ranges (RFC 9110 §14.2): the host's `GET` of a file and the app's cached
//! media both answer `Range: bytes=…` with one range.

/// A `Range: bytes=…` header against a file of `size` bytes: the first and last byte.
pub fn parse(v: &str, size: u64) -> Option<(u64, u64)> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // The last N bytes.
        let n: u64 = b.parse().ok()?;
        if n == 0 || size == 0 {
            return None;
        }
        return Some((size.saturating_sub(n), size - 1));
    }
    let start: u64 = a.parse().ok()?;
    let end: u64 = if b.is_empty() {
        size.checked_sub(1)?
    } else {
        b.parse().ok()?
    };
    (start <= end && start < size).then_some((start, end.min(size - 1)))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn ranges() {
        assert_eq!(parse("bytes=0-", 10), Some((0, 9)));
        assert_eq!(parse("bytes=4-", 10), Some((4, 9)));
        assert_eq!(parse("bytes=4-6", 10), Some((4, 6)));
        assert_eq!(parse("bytes=4-60", 10), Some((4, 9)));
        assert_eq!(parse("bytes=-3", 10), Some((7, 9)));
        assert_eq!(parse("bytes=10-", 10), None);
        assert_eq!(parse("bytes=6-4", 10), None);
        assert_eq!(parse("bytes=0-1,3-4", 10), None);
        assert_eq!(parse("items=0-", 10), None);
        assert_eq!(parse("bytes=0-", 0), None);
        // What media elements send, and what they must not get.
        assert_eq!(parse("bytes=-5000", 1000), Some((0, 999)));
        assert_eq!(parse("bytes=-0", 1000), None);
        assert_eq!(parse("bytes=x-", 1000), None);
    }
}
