//! Small helpers over header values: tokens, comma-separated lists, single-valued headers.

use http::header::{HeaderMap, HeaderValue};

use crate::Error;

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

/// A header that may appear at most once: `Ok(None)` if absent, an error naming it (as
/// `display`) if repeated.
pub(crate) fn at_most_one<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
    display: &'static str,
) -> Result<Option<&'a HeaderValue>, Error> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if first.is_some() && values.next().is_some() {
        return Err(Error::InvalidHeader {
            name: display,
            reason: "appears more than once",
        });
    }
    Ok(first)
}

/// Requires `Upgrade` to list `websocket` and `Connection` to list `upgrade`, which both the
/// request (RFC 6455 §4.2.1) and the 101 (§4.1) must do.
pub(crate) fn require_upgrade_tokens(headers: &HeaderMap) -> Result<(), Error> {
    for (name, display, token, reason) in [
        ("upgrade", "Upgrade", "websocket", "does not list websocket"),
        (
            "connection",
            "Connection",
            "upgrade",
            "does not list upgrade",
        ),
    ] {
        if !list_contains(headers, name, token) {
            return Err(if headers.contains_key(name) {
                Error::InvalidHeader {
                    name: display,
                    reason,
                }
            } else {
                Error::MissingHeader { name: display }
            });
        }
    }
    Ok(())
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
    fn at_most_one_header() {
        let mut headers = HeaderMap::new();
        assert!(matches!(at_most_one(&headers, "host", "Host"), Ok(None)));
        headers.append("host", HeaderValue::from_static("a"));
        assert!(matches!(at_most_one(&headers, "host", "Host"), Ok(Some(v)) if v == "a"));
        headers.append("host", HeaderValue::from_static("a"));
        assert!(matches!(
            at_most_one(&headers, "host", "Host"),
            Err(Error::InvalidHeader {
                name: "Host",
                reason: "appears more than once"
            })
        ));
    }

    #[test]
    fn trimming() {
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
    }
}
