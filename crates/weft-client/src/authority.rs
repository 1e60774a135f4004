//! The parts of a URL's authority that `http::Uri` leaves to its caller: the port as written
//! (it reports a port that is not a `u16` as no port at all) and the host without brackets.

/// The port of `authority` (`[userinfo@]host[:port]`): `Ok(None)` when there is none (or it
/// is empty, which RFC 3986 allows), `Err` with the port as written when it is not a number
/// from 1 to 65535.
pub(crate) fn port(authority: &str) -> Result<Option<u16>, String> {
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host_port)| host_port);
    // An IPv6 literal holds colons of its own; the port can only follow its closing bracket.
    let after_host = match host_port.rfind(']') {
        Some(end) => &host_port[end + 1..],
        None => host_port,
    };
    let Some((_, port)) = after_host.rsplit_once(':') else {
        return Ok(None);
    };
    if port.is_empty() {
        return Ok(None);
    }
    match port.parse::<u16>() {
        Ok(number) if number > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(number)),
        _ => Err(port.to_owned()),
    }
}

/// A host as `http::Uri` gives it, with an IPv6 literal's brackets removed (name resolution
/// and TLS server names want it bare).
pub(crate) fn bare_host(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host)
}

/// `host:port` as a request target or a message shows it: an IPv6 literal in brackets.
pub(crate) fn join(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_numbers_from_1_to_65535() {
        assert_eq!(port("h"), Ok(None));
        assert_eq!(port("h:"), Ok(None));
        assert_eq!(port("h:1"), Ok(Some(1)));
        assert_eq!(port("h:65535"), Ok(Some(65535)));
        assert_eq!(port("u:p@h:8080"), Ok(Some(8080)));
        assert_eq!(port("u:p@h"), Ok(None));
        assert_eq!(port("[::1]"), Ok(None));
        assert_eq!(port("[::1]:443"), Ok(Some(443)));
        for bad in ["99999", "65536", "abc", "0", "+80", "-1", "8 0"] {
            assert_eq!(port(&format!("h:{bad}")), Err(bad.to_owned()), "{bad}");
        }
    }

    #[test]
    fn hosts_lose_their_brackets_and_regain_them_with_a_port() {
        assert_eq!(bare_host("[::1]"), "::1");
        assert_eq!(bare_host("example.com"), "example.com");
        assert_eq!(join("::1", 80), "[::1]:80");
        assert_eq!(join("example.com", 80), "example.com:80");
    }
}
