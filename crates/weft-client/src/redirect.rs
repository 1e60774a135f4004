//! Following `3xx` answers to the handshake, when the builder allows it
//! ([`ClientBuilder::max_redirects`](crate::ClientBuilder::max_redirects); off by default).
//!
//! `301`, `302`, `303`, `307` and `308` with a `Location` are followed; the location is
//! resolved against the URL that answered (RFC 3986 §5.2: absolute, `//host/…`, `/path` or a
//! relative path), `http://` and `https://` stand for `ws://` and `wss://` (servers behind a
//! web framework often redirect with those), and a `wss://` URL is never left for `ws://`.
//! Credentials in headers (`Authorization`, `Cookie`) go only to the origin they were meant
//! for.

use http::{HeaderName, StatusCode, Uri};

use crate::Error;

/// What to do with a failed attempt.
#[derive(Debug)]
pub(crate) enum Next {
    /// Connect to this URL instead.
    Follow(String),
    /// The attempt's error is the answer.
    Stop(Error),
}

/// Whether `err` from connecting to `url` is a redirect to follow, having followed
/// `followed` of at most `limit`.
pub(crate) fn next(url: &str, err: Error, followed: usize, limit: usize) -> Next {
    let Some(location) = location(&err) else {
        return Next::Stop(err);
    };
    if limit == 0 {
        return Next::Stop(err);
    }
    let Some(to) = resolve(url, &location) else {
        return Next::Stop(Error::InvalidUrl {
            url: location,
            reason: "a redirect's Location that cannot be resolved to a ws:// or wss:// URL",
        });
    };
    if is_secure(url) && !is_secure(&to) {
        return Next::Stop(Error::InsecureRedirect {
            from: url.to_owned(),
            to,
        });
    }
    if followed >= limit {
        return Next::Stop(Error::TooManyRedirects {
            limit,
            location: to,
        });
    }
    Next::Follow(to)
}

/// The `Location` of a redirect the client may follow.
fn location(err: &Error) -> Option<String> {
    let Error::Handshake(weft_handshake::Error::Refused { response, .. }) = err else {
        return None;
    };
    let followed = [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::SEE_OTHER,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ];
    if !followed.contains(&response.status()) {
        return None;
    }
    let location = response.headers().get(http::header::LOCATION)?;
    Some(location.to_str().ok()?.trim().to_owned())
}

fn is_secure(url: &str) -> bool {
    url.get(..6)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("wss://"))
}

/// Whether headers set for `from` may go to `to`: the same scheme, host and port.
pub(crate) fn same_origin(from: &str, to: &str) -> bool {
    let origin = |url: &str| {
        let uri = url.parse::<Uri>().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let host = uri.host()?.to_ascii_lowercase();
        let default = if scheme == "wss" { 443 } else { 80 };
        Some((scheme, host, uri.port_u16().unwrap_or(default)))
    };
    origin(from).is_some_and(|origin_from| Some(origin_from) == origin(to))
}

/// Headers that carry credentials, dropped when a redirect leaves the origin.
pub(crate) fn is_credential(name: &HeaderName) -> bool {
    name == http::header::AUTHORIZATION
        || name == http::header::COOKIE
        || name == http::header::PROXY_AUTHORIZATION
}

/// `location` resolved against `base` (RFC 3986 §5.2.2), with `http`/`https` mapped to
/// `ws`/`wss`; `None` if the result is not a `ws://` or `wss://` URL.
pub(crate) fn resolve(base: &str, location: &str) -> Option<String> {
    let base = Parts::split(base)?;
    let reference = Parts::split_reference(location);
    let resolved = if let Some(scheme) = reference.scheme {
        Parts {
            scheme,
            authority: reference.authority,
            path: remove_dot_segments(reference.path),
            query: reference.query,
        }
    } else if reference.authority.is_some() {
        Parts {
            scheme: base.scheme,
            authority: reference.authority,
            path: remove_dot_segments(reference.path),
            query: reference.query,
        }
    } else if reference.path.is_empty() {
        Parts {
            query: reference.query.or(base.query),
            ..base
        }
    } else {
        let path = if reference.path.starts_with('/') {
            remove_dot_segments(reference.path)
        } else {
            remove_dot_segments(&merge(&base, reference.path))
        };
        Parts {
            path,
            query: reference.query,
            ..base
        }
    };
    let scheme = match resolved.scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        _ => return None,
    };
    let authority = resolved.authority.filter(|a| !a.is_empty())?;
    let path = if resolved.path.is_empty() {
        "/".to_owned()
    } else {
        resolved.path
    };
    let query = resolved
        .query
        .map(|query| format!("?{query}"))
        .unwrap_or_default();
    Some(format!("{scheme}://{authority}{path}{query}"))
}

/// A URL cut into the parts resolution works on; the fragment is dropped (a WebSocket URL
/// has none).
struct Parts<'a> {
    scheme: &'a str,
    authority: Option<&'a str>,
    path: String,
    query: Option<&'a str>,
}

/// A reference: every part optional.
struct Reference<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> Parts<'a> {
    fn split(url: &'a str) -> Option<Self> {
        let reference = Self::split_reference(url);
        Some(Parts {
            scheme: reference.scheme?,
            authority: reference.authority,
            path: reference.path.to_owned(),
            query: reference.query,
        })
    }

    /// RFC 3986 Appendix B's regular expression, by hand.
    fn split_reference(text: &'a str) -> Reference<'a> {
        let text = text.split_once('#').map_or(text, |(before, _)| before);
        let (text, query) = match text.split_once('?') {
            Some((before, query)) => (before, Some(query)),
            None => (text, None),
        };
        let scheme_end = text.find(':').filter(|&end| {
            let scheme = &text[..end];
            !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !text[..end].contains('/')
        });
        let (scheme, rest) = match scheme_end {
            Some(end) => (Some(&text[..end]), &text[end + 1..]),
            None => (None, text),
        };
        let (authority, path) = match rest.strip_prefix("//") {
            Some(rest) => {
                let end = rest.find('/').unwrap_or(rest.len());
                (Some(&rest[..end]), &rest[end..])
            }
            None => (None, rest),
        };
        Reference {
            scheme,
            authority,
            path,
            query,
        }
    }
}

/// RFC 3986 §5.2.3.
fn merge(base: &Parts<'_>, path: &str) -> String {
    if base.authority.is_some() && base.path.is_empty() {
        return format!("/{path}");
    }
    match base.path.rfind('/') {
        Some(slash) => format!("{}{path}", &base.path[..=slash]),
        None => path.to_owned(),
    }
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut output: Vec<&str> = Vec::new();
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            input = rest;
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") || input == "/.." {
            input = if input == "/.." { "/" } else { &input[3..] };
            output.pop();
        } else if input == "." || input == ".." {
            input = "";
        } else {
            // The first segment, with its leading slash, up to the next slash.
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            output.push(&input[..end]);
            input = &input[end..];
        }
    }
    output.concat()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    /// RFC 3986 §5.4's examples, with its `http:` base as `ws:` (and `g:h`, which is not a
    /// WebSocket URL, left out).
    #[test]
    fn references_resolve_as_rfc_3986_says() {
        let base = "ws://a/b/c/d;p?q";
        for (reference, expected) in [
            ("g", "ws://a/b/c/g"),
            ("./g", "ws://a/b/c/g"),
            ("g/", "ws://a/b/c/g/"),
            ("/g", "ws://a/g"),
            ("//g", "ws://g/"),
            ("?y", "ws://a/b/c/d;p?y"),
            ("g?y", "ws://a/b/c/g?y"),
            ("#s", "ws://a/b/c/d;p?q"),
            ("g#s", "ws://a/b/c/g"),
            (";x", "ws://a/b/c/;x"),
            ("", "ws://a/b/c/d;p?q"),
            (".", "ws://a/b/c/"),
            ("./", "ws://a/b/c/"),
            ("..", "ws://a/b/"),
            ("../", "ws://a/b/"),
            ("../g", "ws://a/b/g"),
            ("../..", "ws://a/"),
            ("../../", "ws://a/"),
            ("../../g", "ws://a/g"),
            ("../../../g", "ws://a/g"),
            ("/./g", "ws://a/g"),
            ("/../g", "ws://a/g"),
            ("g.", "ws://a/b/c/g."),
            ("..g", "ws://a/b/c/..g"),
            ("./../g", "ws://a/b/g"),
            ("g/./h", "ws://a/b/c/g/h"),
            ("g/../h", "ws://a/b/c/h"),
            ("g;x=1/../y", "ws://a/b/c/y"),
        ] {
            assert_eq!(
                resolve(base, reference).as_deref(),
                Some(expected),
                "{reference}"
            );
        }
    }

    #[test]
    fn http_schemes_stand_for_websocket_ones_and_others_are_refused() {
        assert_eq!(
            resolve("ws://a/x", "http://b:8080/y").as_deref(),
            Some("ws://b:8080/y")
        );
        assert_eq!(
            resolve("ws://a/x", "HTTPS://b/y").as_deref(),
            Some("wss://b/y")
        );
        assert_eq!(resolve("wss://a/x", "//b/y").as_deref(), Some("wss://b/y"));
        assert_eq!(resolve("ws://a/x", "ftp://b/y"), None);
        assert_eq!(resolve("ws://a/x", "mailto:x@y"), None);
    }

    fn refused(status: u16, location: Option<&str>) -> Error {
        let mut response = http::Response::builder().status(status);
        if let Some(location) = location {
            response = response.header("location", location);
        }
        Error::Handshake(weft_handshake::Error::Refused {
            response: Box::new(response.body(Bytes::new()).unwrap()),
            body_complete: true,
        })
    }

    #[test]
    fn redirects_are_followed_up_to_the_limit_and_never_to_plain_text() {
        let follow = |next: Next| match next {
            Next::Follow(url) => url,
            Next::Stop(err) => panic!("stopped: {err}"),
        };
        let stop = |next: Next| match next {
            Next::Follow(url) => panic!("followed to {url}"),
            Next::Stop(err) => err,
        };
        assert_eq!(
            follow(next("ws://a/old", refused(307, Some("/new")), 0, 5)),
            "ws://a/new"
        );
        for status in [301, 302, 303, 308] {
            follow(next("ws://a/", refused(status, Some("/x")), 0, 1));
        }
        // Off by default: the refusal itself is the answer.
        assert!(matches!(
            stop(next("ws://a/", refused(307, Some("/x")), 0, 0)),
            Error::Handshake(_)
        ));
        assert!(matches!(
            stop(next("ws://a/", refused(300, Some("/x")), 0, 5)),
            Error::Handshake(_)
        ));
        assert!(matches!(
            stop(next("ws://a/", refused(307, None), 0, 5)),
            Error::Handshake(_)
        ));
        match stop(next("ws://a/", refused(307, Some("/loop")), 5, 5)) {
            Error::TooManyRedirects { limit, location } => {
                assert_eq!((limit, location.as_str()), (5, "ws://a/loop"));
            }
            other => panic!("{other:?}"),
        }
        match stop(next("wss://a/", refused(301, Some("ws://a/")), 0, 5)) {
            Error::InsecureRedirect { from, to } => {
                assert_eq!((from.as_str(), to.as_str()), ("wss://a/", "ws://a/"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            stop(next("wss://a/", refused(301, Some("http://b/")), 0, 5)),
            Error::InsecureRedirect { .. }
        ));
        assert_eq!(
            follow(next("wss://a/", refused(301, Some("https://b/")), 0, 5)),
            "wss://b/"
        );
    }

    #[test]
    fn credentials_stay_with_their_origin() {
        assert!(same_origin("ws://a/x", "ws://A:80/y"));
        assert!(same_origin("wss://a/x", "wss://a:443/y"));
        assert!(!same_origin("ws://a/x", "ws://b/x"));
        assert!(!same_origin("ws://a/x", "wss://a/x"));
        assert!(!same_origin("ws://a:1/x", "ws://a:2/x"));
        assert!(is_credential(&http::header::AUTHORIZATION));
        assert!(is_credential(&http::header::COOKIE));
        assert!(!is_credential(&http::header::USER_AGENT));
    }
}
