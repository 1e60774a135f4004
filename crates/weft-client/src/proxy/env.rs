//! The proxy the environment names: `http_proxy`, `https_proxy`, `all_proxy` and `no_proxy`,
//! as curl reads them. The variables are looked up through a function, so the rules are
//! tested without touching the process environment.

use std::net::IpAddr;

use super::Proxy;
use crate::{Error, Target};

/// The proxy for `target`, if the variables name one and `no_proxy` does not exempt it.
pub(crate) fn proxy_for(
    target: &Target,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, Error> {
    let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
    // httpoxy: in a CGI program, HTTP_PROXY may come from a request's `Proxy:` header.
    let cgi = var("REQUEST_METHOD").is_some();
    let scheme_vars: &[&str] = match (target.secure, cgi) {
        (true, _) => &["https_proxy", "HTTPS_PROXY"],
        (false, false) => &["http_proxy", "HTTP_PROXY"],
        (false, true) => &["http_proxy"],
    };
    let chosen = scheme_vars
        .iter()
        .chain(&["all_proxy", "ALL_PROXY"])
        .find_map(|&name| set(name).map(|value| (name, value)));
    let Some((name, value)) = chosen else {
        return Ok(None);
    };
    let exempt = ["no_proxy", "NO_PROXY"]
        .iter()
        .find_map(|&name| set(name))
        .is_some_and(|list| no_proxy_matches(&list, &target.host));
    if exempt {
        return Ok(None);
    }
    Proxy::parse(value.trim()).map(Some).map_err(|err| match err {
        Error::InvalidProxy { url, reason } => Error::InvalidProxy {
            url,
            reason: format!("{reason} (from the variable {name})"),
        },
        Error::UnsupportedProxyScheme { url, scheme } => Error::InvalidProxy {
            url,
            reason: format!(
                "the scheme {scheme:?} is not one of http, https, socks5, socks5h (from the variable {name})"
            ),
        },
        other => other,
    })
}

/// Whether `host` is in a `no_proxy` list: `*`; a domain that is the host or one of its parent
/// domains (a leading `.` is ignored); an address; or a network (`10.0.0.0/8`). Ports in
/// entries are ignored, names are compared without regard to case.
pub(crate) fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host_ip = host.parse::<IpAddr>().ok();
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            if let Some(network) = Network::parse(entry) {
                return host_ip.is_some_and(|ip| network.contains(ip));
            }
            let domain = strip_port(entry)
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if domain.is_empty() {
                return false;
            }
            host == domain
                || host
                    .strip_suffix(&domain)
                    .is_some_and(|rest| rest.ends_with('.'))
        })
}

/// `name:port` without the port (an IPv6 literal keeps its colons).
fn strip_port(entry: &str) -> &str {
    match entry.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => entry,
    }
}

/// An address, or a network in CIDR notation.
struct Network {
    address: IpAddr,
    prefix: u32,
}

impl Network {
    fn parse(entry: &str) -> Option<Self> {
        let (address, prefix) = match entry.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (entry, None),
        };
        let address = address
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .or_else(|_| strip_port(address).parse::<IpAddr>())
            .ok()?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u32>().ok().filter(|&p| p <= bits)?,
            None => bits,
        };
        Some(Network { address, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let mask = |bits: u32, width: u32| -> u128 {
            if bits == 0 {
                0
            } else {
                (u128::MAX << (width - bits)) & (u128::MAX >> (128 - width))
            }
        };
        match (self.address, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = mask(self.prefix, 32);
                u128::from(u32::from(network)) & mask == u128::from(u32::from(ip)) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = mask(self.prefix, 128);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap()
    }

    fn chosen(vars: &[(&str, &str)], url: &str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        proxy_for(&target(url), |name| vars.get(name).cloned())
            .unwrap()
            .map(|proxy| proxy.to_string())
    }

    #[test]
    fn ws_takes_http_proxy_and_wss_takes_https_proxy() {
        let vars = [
            ("http_proxy", "http://plain:1"),
            ("https_proxy", "http://secure:2"),
        ];
        assert_eq!(chosen(&vars, "ws://h/"), Some("http://plain:1".to_owned()));
        assert_eq!(
            chosen(&vars, "wss://h/"),
            Some("http://secure:2".to_owned())
        );
        assert_eq!(chosen(&[], "ws://h/"), None);
        assert_eq!(chosen(&[("HTTPS_PROXY", "p:3")], "ws://h/"), None);
    }

    #[test]
    fn lower_case_wins_and_all_proxy_is_the_fallback() {
        let vars = [("http_proxy", "lower:1"), ("HTTP_PROXY", "upper:2")];
        assert_eq!(chosen(&vars, "ws://h"), Some("http://lower:1".to_owned()));
        assert_eq!(
            chosen(&[("HTTP_PROXY", "upper:2")], "ws://h"),
            Some("http://upper:2".to_owned())
        );
        let vars = [("ALL_PROXY", "socks5h://s:1080"), ("http_proxy", " ")];
        assert_eq!(chosen(&vars, "ws://h"), Some("socks5h://s:1080".to_owned()));
        assert_eq!(
            chosen(&vars, "wss://h"),
            Some("socks5h://s:1080".to_owned())
        );
    }

    #[test]
    fn cgi_programs_ignore_upper_case_http_proxy() {
        let vars = [("REQUEST_METHOD", "GET"), ("HTTP_PROXY", "evil:1")];
        assert_eq!(chosen(&vars, "ws://h"), None);
        let vars = [("REQUEST_METHOD", "GET"), ("http_proxy", "fine:1")];
        assert_eq!(chosen(&vars, "ws://h"), Some("http://fine:1".to_owned()));
    }

    #[test]
    fn no_proxy_exempts_hosts_domains_and_networks() {
        let list = "localhost, .corp.example, example.org:8080, 10.0.0.0/8, ::1, [fd00::]/8";
        for host in [
            "localhost",
            "LOCALHOST",
            "corp.example",
            "a.corp.example",
            "example.org",
            "www.example.org",
            "10.1.2.3",
            "::1",
            "fd12::1",
        ] {
            assert!(no_proxy_matches(list, host), "{host}");
        }
        for host in [
            "notlocalhost",
            "corp.example.com",
            "xexample.org",
            "11.0.0.1",
            "::2",
            "fe80::1",
        ] {
            assert!(!no_proxy_matches(list, host), "{host}");
        }
        assert!(no_proxy_matches("*", "anything"));
        assert!(no_proxy_matches("192.168.1.0/24", "192.168.1.200"));
        assert!(!no_proxy_matches("192.168.1.0/24", "192.168.2.1"));
        assert!(no_proxy_matches("0.0.0.0/0", "8.8.8.8"));
        assert!(!no_proxy_matches("", "h"));
        let vars = [("http_proxy", "p:1"), ("no_proxy", "h")];
        assert_eq!(chosen(&vars, "ws://h:9001/x"), None);
        assert_eq!(chosen(&vars, "ws://other"), Some("http://p:1".to_owned()));
    }

    #[test]
    fn a_bad_variable_is_named() {
        let err = proxy_for(&target("ws://h"), |name| {
            (name == "http_proxy").then(|| "http://p:99999".to_owned())
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid proxy URL \"http://p:99999\": the port \"99999\" is not a number from 1 \
             to 65535 (from the variable http_proxy)"
        );
        let err = proxy_for(&target("wss://h"), |name| {
            (name == "ALL_PROXY").then(|| "socks4://p".to_owned())
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("(from the variable ALL_PROXY)"),
            "{err}"
        );
    }
}
