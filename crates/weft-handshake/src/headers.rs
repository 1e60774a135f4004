//! Small helpers over header values: tokens, comma-separated lists, single-valued headers.

use http::header::{HeaderMap, HeaderValue};

/// Whether `b` is a `tchar` (RFC 9110 §5.6.2).
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'#'
            | b'$'
            | b'%'
            | b'&'
            | b'\''
            | b'*'
            | b'+'
            | b'-'
            | b'.'
            | b'^'
            | b'_'
            | b'`'
            | b'|'
            | b'~'
    ) || b.is_ascii_alphanumeric()
}

/// Whether `s` is a non-empty `token`.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Trims optional whitespace (SP and HTAB) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The non-empty elements of a comma-separated list spread over every line of a header,
/// trimmed. Empty elements are skipped, as RFC 9110 §5.6.1 asks of recipients.
pub(crate) fn list_elements<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(trim_ows)
        .filter(|element| !element.is_empty())
}

/// Whether a header's comma-separated list holds `token`, compared ASCII case-insensitively.
pub(crate) fn list_contains(headers: &HeaderMap, name: &'static str, token: &str) -> bool {
    list_elements(headers, name).any(|element| element.eq_ignore_ascii_case(token.as_bytes()))
}

/// The outcome of looking for a header that may appear at most once.
pub(crate) enum Single<'a> {
    Absent,
    One(&'a HeaderValue),
    Many,
}

/// Looks up a header that may appear at most once.
pub(crate) fn single<'a>(headers: &'a HeaderMap, name: &'static str) -> Single<'a> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Single::Absent,
        (Some(value), None) => Single::One(value),
        (Some(_), Some(_)) => Single::Many,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(is_token(b"permessage-deflate"));
        assert!(is_token(b"x!#$%&'*+-.^_`|~9"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a=b"));
        assert!(!is_token(b"\"a\""));
        assert!(!is_token("é".as_bytes()));
    }

    #[test]
    fn lists_span_lines_and_skip_empty_elements() {
        let mut headers = HeaderMap::new();
        headers.append("connection", HeaderValue::from_static("keep-alive , "));
        headers.append("connection", HeaderValue::from_static(",UPGRADE"));
        let elements: Vec<_> = list_elements(&headers, "connection").collect();
        assert_eq!(elements, [b"keep-alive".as_ref(), b"UPGRADE".as_ref()]);
        assert!(list_contains(&headers, "connection", "upgrade"));
        assert!(!list_contains(&headers, "connection", "close"));
    }

    #[test]
    fn trimming() {
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
    }
}
