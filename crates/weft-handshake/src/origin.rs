//! Which `Origin`s a server accepts (RFC 6455 §4.2.2 step 4, §10.2).

use http::header::{HOST, ORIGIN};

/// Which browser origins a server accepts upgrades from.
///
/// Browsers send `Origin` with every WebSocket handshake, and cookies along with it, so a
/// page on another site could otherwise talk to this server as the user. The policy is about
/// browsers only: a request without `Origin` comes from a program that could send any origin
/// it liked, and every policy lets it through.
///
/// Origins are compared ASCII case-insensitively, with the scheme's default port made
/// explicit, so `https://Example.com` and `https://example.com:443` are the same origin.
///
/// The default is [`OriginPolicy::SameHost`], the policy that is safe without configuration.
/// Behind a proxy that rewrites `Host`, use [`OriginPolicy::allow_list`] instead.
///
/// # Example
///
/// ```
/// use weft_handshake::OriginPolicy;
///
/// let request = |origin: &str| {
///     http::Request::get("/").header("host", "chat.example").header("origin", origin).body(())
/// };
/// let policy = OriginPolicy::default();
/// assert!(policy.allows(&request("https://chat.example")?));
/// assert!(!policy.allows(&request("https://evil.example")?));
///
/// let policy = OriginPolicy::allow_list(["https://app.example"]);
/// assert!(policy.allows(&request("https://APP.example:443")?));
/// assert!(!policy.allows(&request("http://app.example")?));
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// Accept any origin. Fit for a public API that uses no cookies or other ambient
    /// credentials.
    Any,
    /// Accept the listed origins (`scheme://host[:port]`, e.g. `https://app.example`).
    AllowList(Vec<String>),
    /// Accept an origin whose host and port are those of the request's `Host` header.
    #[default]
    SameHost,
}

impl OriginPolicy {
    /// A policy that accepts the listed origins.
    ///
    /// # Example
    ///
    /// ```
    /// let policy = weft_handshake::OriginPolicy::allow_list(["https://a.example", "null"]);
    /// let request = http::Request::get("/").header("origin", "null").body(())?;
    /// assert!(policy.allows(&request));
    /// # Ok::<(), http::Error>(())
    /// ```
    pub fn allow_list<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        OriginPolicy::AllowList(origins.into_iter().map(Into::into).collect())
    }

    /// Whether the policy accepts this request's `Origin`.
    ///
    /// A request without `Origin` is accepted; one with several `Origin` headers is refused
    /// by every policy but [`OriginPolicy::Any`].
    ///
    /// # Example
    ///
    /// ```
    /// let policy = weft_handshake::OriginPolicy::SameHost;
    /// let request = http::Request::get("/").header("host", "example.com:8080").body(())?;
    /// assert!(policy.allows(&request));
    /// # Ok::<(), http::Error>(())
    /// ```
    pub fn allows<T>(&self, request: &http::Request<T>) -> bool {
        let headers = request.headers();
        let mut origins = headers.get_all(ORIGIN).iter();
        let origin = match (origins.next(), origins.next()) {
            (None, _) => return true,
            (Some(origin), None) => origin.as_bytes(),
            (Some(_), Some(_)) => return matches!(self, OriginPolicy::Any),
        };
        match self {
            OriginPolicy::Any => true,
            OriginPolicy::AllowList(allowed) => match Origin::parse(origin) {
                Some(origin) => allowed
                    .iter()
                    .filter_map(|entry| Origin::parse(entry.as_bytes()))
                    .any(|entry| entry == origin),
                // An opaque origin ("null") or anything else that is not scheme://authority
                // matches only an entry with the very same text.
                None => allowed
                    .iter()
                    .any(|entry| entry.as_bytes().eq_ignore_ascii_case(origin)),
            },
            OriginPolicy::SameHost => {
                let Some(origin) = Origin::parse(origin) else {
                    return false;
                };
                // HTTP/2 carries the host in `:authority` (the URI) and usually no `Host`.
                let mut hosts = headers.get_all(HOST).iter();
                let host = match (hosts.next(), hosts.next()) {
                    (Some(host), None) => host.as_bytes(),
                    (None, _) => match request.uri().authority() {
                        Some(authority) => authority.as_str().as_bytes(),
                        None => return false,
                    },
                    (Some(_), Some(_)) => return false,
                };
                let Some((host, port)) = split_authority(host) else {
                    return false;
                };
                let port = port.or_else(|| default_port(&origin.scheme));
                origin.host.as_bytes().eq_ignore_ascii_case(host) && origin.port == port
            }
        }
    }
}

/// A tuple origin, lowercased, with its port made explicit.
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    fn parse(text: &[u8]) -> Option<Origin> {
        let text = std::str::from_utf8(text).ok()?.trim().to_ascii_lowercase();
        let (scheme, authority) = text.split_once("://")?;
        // A configured entry may end with a slash; a browser's Origin never has a path.
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        let valid_scheme = !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !valid_scheme || authority.contains(['/', '@', '?', '#']) {
            return None;
        }
        let (host, port) = split_authority(authority.as_bytes())?;
        let port = port.or_else(|| default_port(scheme));
        Some(Origin {
            scheme: scheme.to_owned(),
            host: String::from_utf8(host.to_vec()).ok()?,
            port,
        })
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// Splits `host[:port]` (with `[v6]` hosts); `None` if the port is not a number.
fn split_authority(authority: &[u8]) -> Option<(&[u8], Option<u16>)> {
    let (host, port) = if authority.starts_with(b"[") {
        let close = authority.iter().position(|&b| b == b']')?;
        let (host, rest) = authority.split_at(close + 1);
        match rest {
            [] => (host, None),
            [b':', port @ ..] => (host, Some(port)),
            _ => return None,
        }
    } else {
        match authority.iter().rposition(|&b| b == b':') {
            Some(colon) => (&authority[..colon], Some(&authority[colon + 1..])),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(port) => Some(std::str::from_utf8(port).ok()?.parse::<u16>().ok()?),
        None => None,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: Option<&str>, origins: &[&str]) -> http::Request<()> {
        let mut builder = http::Request::get("/");
        if let Some(host) = host {
            builder = builder.header("host", host);
        }
        for origin in origins {
            builder = builder.header("origin", *origin);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn no_origin_is_always_allowed() {
        for policy in [
            OriginPolicy::Any,
            OriginPolicy::allow_list(["https://a"]),
            OriginPolicy::SameHost,
        ] {
            assert!(policy.allows(&request(Some("a"), &[])), "{policy:?}");
        }
    }

    #[test]
    fn same_host_compares_host_and_port() {
        let policy = OriginPolicy::SameHost;
        assert!(policy.allows(&request(Some("example.com"), &["http://example.com"])));
        assert!(policy.allows(&request(Some("EXAMPLE.com"), &["https://example.COM"])));
        assert!(policy.allows(&request(Some("example.com:443"), &["https://example.com"])));
        assert!(policy.allows(&request(
            Some("example.com:8080"),
            &["http://example.com:8080"]
        )));
        assert!(policy.allows(&request(Some("[::1]:8080"), &["http://[::1]:8080"])));
        assert!(!policy.allows(&request(Some("example.com:8080"), &["http://example.com"])));
        assert!(!policy.allows(&request(Some("example.com"), &["http://example.com.evil"])));
        assert!(!policy.allows(&request(Some("example.com"), &["null"])));
        assert!(!policy.allows(&request(None, &["http://example.com"])));
        assert!(!policy.allows(&request(Some("example.com:x"), &["http://example.com"])));
    }

    #[test]
    fn allow_list_normalizes_case_and_default_ports() {
        let policy = OriginPolicy::allow_list(["https://App.example/", "http://b.example:8080"]);
        assert!(policy.allows(&request(None, &["https://app.example"])));
        assert!(policy.allows(&request(None, &["https://app.example:443"])));
        assert!(policy.allows(&request(None, &["http://b.example:8080"])));
        assert!(!policy.allows(&request(None, &["http://b.example"])));
        assert!(!policy.allows(&request(None, &["https://app.example.evil"])));
        assert!(!policy.allows(&request(None, &["null"])));
        assert!(!policy.allows(&request(None, &["https://user@app.example"])));
    }

    #[test]
    fn several_origins_are_refused_unless_any() {
        let origins = ["https://a", "https://a"];
        assert!(OriginPolicy::Any.allows(&request(Some("a"), &origins)));
        assert!(!OriginPolicy::allow_list(["https://a"]).allows(&request(Some("a"), &origins)));
        assert!(!OriginPolicy::SameHost.allows(&request(Some("a"), &origins)));
    }
}
