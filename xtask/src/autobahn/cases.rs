//! Which Autobahn cases run: patterns, the default sample, and case-id ordering.
//!
//! Case ids are `section.group[.case]` (`1.1.1`, `10.1.1`, `13.7.18`). Patterns are what wstest's
//! spec accepts: an exact id, or a prefix ending in `*` (`1.*`, `12.2.*`, `*`).

use std::cmp::Ordering;

/// Sections 1-10 in full: framing, pings, reserved bits, opcodes, fragmentation, UTF-8,
/// close handling, limits and performance, misc. Together about 20 seconds.
const DEFAULT_FULL_SECTIONS: &[&str] = &[
    "1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*",
];

/// A sample of the permessage-deflate sections (216 cases, ~95% of a full run's time) that still
/// negotiates every parameter combination and exercises the sliding window and fragmented
/// compressed messages. Every 12.x.y and 13.x.y case sends 1000 messages; y (1..=18) picks the
/// size and framing, the same in both sections: y = 1..=10 are unfragmented messages of 16 B,
/// 64 B, 256 B, 1 KiB, 4 KiB, 8 KiB, 16 KiB, 32 KiB, 64 KiB and 128 KiB; y = 11..=15 are 8 KiB
/// .. 128 KiB messages cut into 256-byte frames; y = 16..=18 are 128 KiB messages cut into 1 KiB,
/// 4 KiB and 32 KiB frames.
///
/// 13.x (JSON text) are the seven offer/accept combinations wstest knows: x = 1 default offer;
/// 2 `client_no_context_takeover` accepted; 3 and 4 `client_max_window_bits` 9 and 15; 5 and 6
/// no context takeover with window bits 9 and 15; 7 a list of three offers. Each 13.x runs three
/// times: y = 1 (16 B: per-message overhead), y = 9 (64 KiB: larger than any window, so the
/// window limit and context takeover really apply) and y = 13 (32 KiB in 256-byte frames: one
/// compressed message over many continuation frames).
///
/// 12.x are five payload kinds with the default offer: x = 1 JSON (text), 2 a bitmap (binary),
/// 3 German text sent as binary, 4 HTML (text), 5 a PDF (binary, incompressible: deflate's
/// stored blocks). Each kind runs once at a different size and framing, plus the smallest and a
/// larger case of the incompressible kind.
///
/// Measured against Python websockets: about 45 s of wstest time per role, against ~555 s for
/// all of 12.* and 13.*.
pub(crate) const DEFAULT_DEFLATE_SAMPLE: &[&str] = &[
    "12.1.1", "12.1.10", "12.2.5", "12.3.11", "12.4.18", "12.5.1", "12.5.9", //
    "13.1.1", "13.1.9", "13.1.13", "13.2.1", "13.2.9", "13.2.13", "13.3.1", "13.3.9", "13.3.13",
    "13.4.1", "13.4.9", "13.4.13", "13.5.1", "13.5.9", "13.5.13", "13.6.1", "13.6.9", "13.6.13",
    "13.7.1", "13.7.9", "13.7.13",
];

/// The cases Autobahn describes as informational for every implementation: 7.1.6 (a large
/// message right before the close) and 7.13.1/7.13.2 (close codes outside the registered
/// ranges). INFORMATIONAL there is a pass; anywhere else only OK is.
pub(crate) const INFORMATIONAL_BY_DESIGN: &[&str] = &["7.1.6", "7.13.1", "7.13.2"];

/// The cases to run and to skip, as wstest patterns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Selection {
    pub(crate) cases: Vec<String>,
    pub(crate) exclude: Vec<String>,
    /// A short name for messages: `default sample`, `full`, or `custom`.
    pub(crate) label: &'static str,
}

impl Selection {
    /// The quick sample CI runs.
    pub(crate) fn default_sample() -> Self {
        let cases = DEFAULT_FULL_SECTIONS
            .iter()
            .chain(DEFAULT_DEFLATE_SAMPLE)
            .map(|&p| p.to_owned());
        Self {
            cases: cases.collect(),
            exclude: Vec::new(),
            label: "default sample",
        }
    }

    /// All 517 cases.
    pub(crate) fn full() -> Self {
        Self {
            cases: vec!["*".into()],
            exclude: Vec::new(),
            label: "full",
        }
    }

    /// From `--full`, `--cases` and `--exclude`: `--cases` replaces the default (or full)
    /// list, `--exclude` applies to whichever list is used.
    pub(crate) fn from_options(
        full: bool,
        cases: Option<&str>,
        exclude: Option<&str>,
    ) -> Result<Self, String> {
        let mut selection = match (full, cases) {
            (_, Some(list)) => Self {
                cases: parse_patterns(list)?,
                exclude: Vec::new(),
                label: "custom",
            },
            (true, None) => Self::full(),
            (false, None) => Self::default_sample(),
        };
        if let Some(list) = exclude {
            selection.exclude = parse_patterns(list)?;
            if selection.label != "custom" {
                selection.label = "custom";
            }
        }
        if selection.cases.is_empty() {
            return Err("--cases selects nothing".into());
        }
        Ok(selection)
    }

    /// Exact ids (no `*`) that are selected and not excluded: each of them must show up in the
    /// report, so a case that silently did not run is caught.
    pub(crate) fn exact_ids(&self) -> Vec<&str> {
        self.cases
            .iter()
            .filter(|case| !case.contains('*'))
            .filter(|case| !self.exclude.iter().any(|pattern| matches(pattern, case)))
            .map(String::as_str)
            .collect()
    }

    /// Whether this selection may take long enough to deserve the longer default time bound.
    pub(crate) fn is_large(&self) -> bool {
        self.cases
            .iter()
            .any(|case| case == "*" || case.starts_with("12.*") || case.starts_with("13.*"))
    }

    pub(crate) fn describe(&self) -> String {
        let mut text = format!("{}: {}", self.label, self.cases.join(","));
        if !self.exclude.is_empty() {
            text.push_str(&format!(" excluding {}", self.exclude.join(",")));
        }
        text
    }
}

/// `"1.*, 9.1.1"` -> `["1.*", "9.1.1"]`; digits, dots and `*` only, `*` only at the end (the
/// only form wstest expands the way one expects).
pub(crate) fn parse_patterns(list: &str) -> Result<Vec<String>, String> {
    list.split([',', ' '])
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let body = item.strip_suffix('*').unwrap_or(item);
            let valid = body.chars().all(|c| c.is_ascii_digit() || c == '.')
                && !body.contains("..")
                && !body.starts_with('.')
                && (item.ends_with('*') || !body.ends_with('.'))
                && !item.is_empty();
            if valid {
                Ok(item.to_owned())
            } else {
                Err(format!(
                    "bad case pattern `{item}` (use ids or prefixes like 1.*, 9.1.1, 12.2.*)"
                ))
            }
        })
        .collect()
}

/// Whether case `id` matches `pattern` (exact, or a prefix ending in `*`).
pub(crate) fn matches(pattern: &str, id: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix),
        None => pattern == id,
    }
}

/// The section of a case id: `13` for `13.7.18`.
pub(crate) fn section(id: &str) -> u32 {
    id.split('.')
        .next()
        .and_then(|part| part.parse().ok())
        .unwrap_or(0)
}

/// Orders case ids numerically part by part (`1.1.2` < `1.1.10` < `10.1.1`).
pub(crate) fn compare_ids(a: &str, b: &str) -> Ordering {
    let parts = |id: &str| -> Vec<u64> {
        id.split('.')
            .map(|part| part.parse().unwrap_or(u64::MAX))
            .collect()
    };
    parts(a).cmp(&parts(b)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_checked() {
        assert_eq!(
            parse_patterns("1.*, 9.1.1,12.2.*").unwrap(),
            ["1.*", "9.1.1", "12.2.*"]
        );
        assert_eq!(parse_patterns("*").unwrap(), ["*"]);
        assert!(parse_patterns("1.*.2").is_err());
        assert!(parse_patterns("a.1").is_err());
        assert!(parse_patterns("1..2").is_err());
    }

    #[test]
    fn prefix_patterns_do_not_cross_sections() {
        assert!(matches("1.*", "1.1.1"));
        assert!(!matches("1.*", "10.1.1"));
        assert!(matches("*", "13.7.18"));
        assert!(matches("9.1.1", "9.1.1"));
        assert!(!matches("9.1.1", "9.1.10"));
    }

    #[test]
    fn ids_sort_numerically() {
        let mut ids = vec!["10.1.1", "1.1.10", "1.1.2", "13.1.1", "9.7.1"];
        ids.sort_by(|a, b| compare_ids(a, b));
        assert_eq!(ids, ["1.1.2", "1.1.10", "9.7.1", "10.1.1", "13.1.1"]);
    }

    #[test]
    fn default_sample_covers_every_deflate_combination() {
        let sample = Selection::default_sample();
        for x in 1..=7 {
            for y in [1, 9, 13] {
                assert!(sample.cases.contains(&format!("13.{x}.{y}")), "13.{x}.{y}");
            }
        }
        for x in 1..=5 {
            assert!(
                sample
                    .cases
                    .iter()
                    .any(|id| id.starts_with(&format!("12.{x}."))),
                "12.{x}.*"
            );
        }
        assert_eq!(sample.exact_ids().len(), DEFAULT_DEFLATE_SAMPLE.len());
    }

    #[test]
    fn options_replace_or_narrow_the_default() {
        assert_eq!(
            Selection::from_options(false, None, None).unwrap(),
            Selection::default_sample()
        );
        assert_eq!(
            Selection::from_options(true, None, None).unwrap().cases,
            ["*"]
        );
        let custom = Selection::from_options(false, Some("1.*,2.*"), Some("2.1.1")).unwrap();
        assert_eq!(custom.cases, ["1.*", "2.*"]);
        assert_eq!(custom.exclude, ["2.1.1"]);
        let narrowed = Selection::from_options(true, None, Some("12.*,13.*")).unwrap();
        assert_eq!(narrowed.cases, ["*"]);
        assert_eq!(narrowed.exclude, ["12.*", "13.*"]);
    }
}
