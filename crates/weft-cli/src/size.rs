//! Byte sizes on the command line: `1048576`, `64KiB`, `16M`, `1GiB`.

/// Parses a byte count with an optional binary suffix (`K`/`KiB`, `M`/`MiB`, `G`/`GiB`, any
/// case, each a power of 1024), for clap's `value_parser`.
pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!(
            "{text:?} is not a byte count (e.g. 1048576, 64KiB, 16MiB)"
        ));
    }
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        other => {
            return Err(format!(
                "unknown unit {other:?} (use B, KiB, MiB or GiB: powers of 1024)"
            ));
        }
    };
    let too_large = || format!("{text:?} is too large");
    let count: usize = digits.parse().map_err(|_| too_large())?;
    count.checked_mul(1 << shift).ok_or_else(too_large)
}

/// A byte count as the size flags take it: `20 B`, `64 KiB`, `1.5 MiB`.
pub(crate) fn bytes(size: usize) -> String {
    const UNITS: [(&str, usize); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, scale) in UNITS {
        if size >= scale {
            let value = size as f64 / scale as f64;
            return if size.is_multiple_of(scale) {
                format!("{} {unit}", size / scale)
            } else {
                format!("{value:.1} {unit}")
            };
        }
    }
    format!("{size} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_the_flags_take_them() {
        assert_eq!(bytes(20), "20 B");
        assert_eq!(bytes(1 << 10), "1 KiB");
        assert_eq!(bytes(64 << 10), "64 KiB");
        assert_eq!(bytes(1536 << 10), "1.5 MiB");
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        for (text, bytes) in [
            ("0", 0),
            ("1048576", 1 << 20),
            ("512B", 512),
            ("64k", 64 << 10),
            ("64KiB", 64 << 10),
            ("16M", 16 << 20),
            ("16 MiB", 16 << 20),
            ("1GiB", 1 << 30),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn bad_sizes_say_what_is_wrong() {
        assert!(parse_size("").unwrap_err().contains("not a byte count"));
        assert!(parse_size("MiB").unwrap_err().contains("not a byte count"));
        assert!(parse_size("-1").unwrap_err().contains("not a byte count"));
        assert!(
            parse_size("10MB")
                .unwrap_err()
                .contains("unknown unit \"mb\"")
        );
        assert!(
            parse_size("99999999999999999999999")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            parse_size("18446744073709551615GiB")
                .unwrap_err()
                .contains("too large")
        );
    }
}
