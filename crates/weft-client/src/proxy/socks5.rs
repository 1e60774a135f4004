//! SOCKS5 `CONNECT` (RFC 1928) with no authentication or username/password (RFC 1929).
//!
//! Three exchanges, each a step that errors name: the greeting (which authentication
//! methods the client offers, and which one the proxy picks), the authentication, and the
//! connect request (the proxy's reply says whether it reached the server). Every message has
//! a fixed layout, so each answer is read with exact lengths; a proxy that closes midway is
//! reported at the step where it did.

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Credentials, Proxy};
use crate::{Error, authority};

const VERSION: u8 = 5;
/// RFC 1929's subnegotiation version.
const AUTH_VERSION: u8 = 1;
const NO_AUTHENTICATION: u8 = 0x00;
const USERNAME_PASSWORD: u8 = 0x02;
const NO_ACCEPTABLE_METHODS: u8 = 0xff;
const CONNECT: u8 = 0x01;
const ATYP_IPV4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;

const GREETING: &str = "SOCKS5 greeting";
const AUTHENTICATION: &str = "SOCKS5 authentication";
const CONNECT_REQUEST: &str = "SOCKS5 connect request";

/// The server's address as a connect request carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Address {
    /// A name for the proxy to resolve.
    Domain(String, u16),
    /// An address.
    Ip(SocketAddr),
}

impl Address {
    /// A host from a URL: an address if it is one, else a name.
    pub(super) fn from_host(host: &str, port: u16) -> Self {
        match host.parse::<IpAddr>() {
            Ok(ip) => Address::Ip(SocketAddr::new(ip, port)),
            Err(_) => Address::Domain(host.to_owned(), port),
        }
    }

    fn target(&self) -> String {
        match self {
            Address::Domain(host, port) => authority::join(host, *port),
            Address::Ip(addr) => addr.to_string(),
        }
    }
}

/// Whether RFC 1929 can carry these credentials.
pub(super) fn check_credentials(username: &str, password: &str) -> Result<(), &'static str> {
    if username.is_empty() {
        return Err("a SOCKS5 username may not be empty");
    }
    if username.len() > 255 {
        return Err("a SOCKS5 username is at most 255 bytes");
    }
    if password.len() > 255 {
        return Err("a SOCKS5 password is at most 255 bytes");
    }
    Ok(())
}

/// The greeting: the methods the client can use.
pub(super) fn greeting(with_credentials: bool) -> Vec<u8> {
    if with_credentials {
        vec![VERSION, 2, NO_AUTHENTICATION, USERNAME_PASSWORD]
    } else {
        vec![VERSION, 1, NO_AUTHENTICATION]
    }
}

/// What the proxy's choice of method asks the client to do next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Method {
    None,
    UsernamePassword,
}

/// Reads the proxy's answer to the greeting.
pub(super) fn method(answer: [u8; 2], with_credentials: bool) -> Result<Method, Failure> {
    match answer {
        [VERSION, NO_AUTHENTICATION] => Ok(Method::None),
        [VERSION, USERNAME_PASSWORD] if with_credentials => Ok(Method::UsernamePassword),
        [VERSION, NO_ACCEPTABLE_METHODS] if with_credentials => Err(Failure::Auth(
            "accepts neither no authentication nor a username and password".to_owned(),
        )),
        [VERSION, NO_ACCEPTABLE_METHODS | USERNAME_PASSWORD] => Err(Failure::Auth(
            "requires a username and password (SOCKS5)".to_owned(),
        )),
        [VERSION, other] => Err(Failure::Protocol(format!(
            "the proxy chose authentication method {other:#04x}, which was not offered"
        ))),
        [other, _] => Err(Failure::Protocol(not_socks5(other))),
    }
}

/// The RFC 1929 request. The lengths were checked by [`check_credentials`].
pub(super) fn auth_request(credentials: &Credentials) -> Vec<u8> {
    let (username, password) = (
        credentials.username.as_bytes(),
        credentials.password.as_bytes(),
    );
    let mut out = Vec::with_capacity(3 + username.len() + password.len());
    out.push(AUTH_VERSION);
    out.push(u8::try_from(username.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(username);
    out.push(u8::try_from(password.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(password);
    out
}

/// Reads the RFC 1929 answer.
pub(super) fn auth_status(answer: [u8; 2]) -> Result<(), Failure> {
    match answer {
        [AUTH_VERSION, 0] => Ok(()),
        [AUTH_VERSION, _] => Err(Failure::Auth(
            "refused the username and password (SOCKS5)".to_owned(),
        )),
        [other, _] => Err(Failure::Protocol(format!(
            "the answer to the username and password starts with {other:#04x}, not 0x01"
        ))),
    }
}

/// The connect request.
pub(super) fn connect_request(address: &Address) -> Result<Vec<u8>, &'static str> {
    let mut out = vec![VERSION, CONNECT, 0];
    let port = match address {
        Address::Domain(host, port) => {
            let length = u8::try_from(host.len())
                .map_err(|_| "a host name longer than 255 bytes cannot go through SOCKS5")?;
            out.push(ATYP_DOMAIN);
            out.push(length);
            out.extend_from_slice(host.as_bytes());
            *port
        }
        Address::Ip(SocketAddr::V4(addr)) => {
            out.push(ATYP_IPV4);
            out.extend_from_slice(&addr.ip().octets());
            addr.port()
        }
        Address::Ip(SocketAddr::V6(addr)) => {
            out.push(ATYP_IPV6);
            out.extend_from_slice(&addr.ip().octets());
            addr.port()
        }
    };
    out.extend_from_slice(&port.to_be_bytes());
    Ok(out)
}

/// Reads the first four bytes of the reply; on success, how many bytes of bound address
/// and port follow (`None`: a domain, whose length is the next byte).
pub(super) fn reply_head(head: [u8; 4]) -> Result<Option<usize>, Failure> {
    let [version, reply, _reserved, address_type] = head;
    if version != VERSION {
        return Err(Failure::Protocol(not_socks5(version)));
    }
    if reply != 0 {
        return Err(Failure::Refused(reply_text(reply)));
    }
    match address_type {
        ATYP_IPV4 => Ok(Some(4 + 2)),
        ATYP_IPV6 => Ok(Some(16 + 2)),
        ATYP_DOMAIN => Ok(None),
        other => Err(Failure::Protocol(format!(
            "the reply has address type {other:#04x}, which SOCKS5 does not define"
        ))),
    }
}

/// RFC 1928 §6's replies, in words.
fn reply_text(reply: u8) -> String {
    match reply {
        0x01 => "general SOCKS server failure".to_owned(),
        0x02 => "connection not allowed by ruleset".to_owned(),
        0x03 => "network unreachable".to_owned(),
        0x04 => "host unreachable".to_owned(),
        0x05 => "connection refused by the server".to_owned(),
        0x06 => "TTL expired".to_owned(),
        0x07 => "command not supported".to_owned(),
        0x08 => "address type not supported".to_owned(),
        other => format!("SOCKS5 reply {other:#04x}"),
    }
}

fn not_socks5(version: u8) -> String {
    format!(
        "the answer starts with {version:#04x}, not SOCKS version 5: this is not a SOCKS5 proxy"
    )
}

/// Why a step failed, before it becomes an [`Error`] naming the proxy.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// Credentials wanted or refused.
    Auth(String),
    /// The proxy could not or would not reach the server.
    Refused(String),
    /// Not SOCKS5, or broken.
    Protocol(String),
}

/// Runs the three exchanges over `stream` (connected to the proxy).
pub(super) async fn open<S>(stream: &mut S, proxy: &Proxy, address: &Address) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut exchange = Exchange { stream, proxy };
    let credentials = proxy.credentials.as_ref();
    let request = connect_request(address).map_err(|reason| Error::InvalidUrl {
        url: address.target(),
        reason,
    })?;

    exchange
        .send(GREETING, &greeting(credentials.is_some()))
        .await?;
    let answer = exchange.receive::<2>(GREETING).await?;
    let chosen =
        method(answer, credentials.is_some()).map_err(|f| exchange.fail(GREETING, address, f))?;

    if let (Method::UsernamePassword, Some(credentials)) = (chosen, credentials) {
        exchange
            .send(AUTHENTICATION, &auth_request(credentials))
            .await?;
        let answer = exchange.receive::<2>(AUTHENTICATION).await?;
        auth_status(answer).map_err(|f| exchange.fail(AUTHENTICATION, address, f))?;
    }

    exchange.send(CONNECT_REQUEST, &request).await?;
    let head = exchange.receive::<4>(CONNECT_REQUEST).await?;
    let rest = match reply_head(head).map_err(|f| exchange.fail(CONNECT_REQUEST, address, f))? {
        Some(rest) => rest,
        None => usize::from(exchange.receive::<1>(CONNECT_REQUEST).await?[0]) + 2,
    };
    // The address the proxy bound for the tunnel: of no use to a client, but it must be read
    // so that the next byte is the server's.
    let mut bound = [0u8; 255 + 2];
    exchange
        .stream
        .read_exact(&mut bound[..rest])
        .await
        .map_err(|err| exchange.io(CONNECT_REQUEST, &err))?;
    Ok(())
}

/// One negotiation: the stream and the proxy that errors name.
struct Exchange<'a, S> {
    stream: &'a mut S,
    proxy: &'a Proxy,
}

impl<S> Exchange<'_, S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    async fn send(&mut self, step: &'static str, bytes: &[u8]) -> Result<(), Error> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|err| self.io(step, &err))?;
        self.stream.flush().await.map_err(|err| self.io(step, &err))
    }

    async fn receive<const N: usize>(&mut self, step: &'static str) -> Result<[u8; N], Error> {
        let mut answer = [0u8; N];
        self.stream
            .read_exact(&mut answer)
            .await
            .map_err(|err| self.io(step, &err))?;
        Ok(answer)
    }

    fn io(&self, step: &'static str, err: &std::io::Error) -> Error {
        let reason = if err.kind() == std::io::ErrorKind::UnexpectedEof {
            "the proxy closed the connection before answering in full".to_owned()
        } else {
            err.to_string()
        };
        Error::ProxyProtocol {
            proxy: self.proxy.to_string(),
            step,
            reason,
        }
    }

    fn fail(&self, step: &'static str, address: &Address, failure: Failure) -> Error {
        let proxy = self.proxy.to_string();
        match failure {
            Failure::Auth(reason) => Error::ProxyAuth { proxy, reason },
            Failure::Refused(reason) => Error::ProxyRefused {
                proxy,
                target: address.target(),
                reason,
            },
            Failure::Protocol(reason) => Error::ProxyProtocol {
                proxy,
                step,
                reason,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Credentials {
        Credentials {
            username: "alice".to_owned(),
            password: "pw".to_owned(),
        }
    }

    #[test]
    fn the_greeting_offers_what_the_client_can_do() {
        assert_eq!(greeting(false), [5, 1, 0]);
        assert_eq!(greeting(true), [5, 2, 0, 2]);
        assert_eq!(method([5, 0], false), Ok(Method::None));
        assert_eq!(method([5, 0], true), Ok(Method::None));
        assert_eq!(method([5, 2], true), Ok(Method::UsernamePassword));
        assert!(
            matches!(method([5, 0xff], false), Err(Failure::Auth(reason)) if reason.starts_with("requires"))
        );
        assert!(
            matches!(method([5, 2], false), Err(Failure::Auth(reason)) if reason.starts_with("requires"))
        );
        assert!(
            matches!(method([5, 0xff], true), Err(Failure::Auth(reason)) if reason.starts_with("accepts neither"))
        );
        assert!(
            matches!(method([5, 1], true), Err(Failure::Protocol(reason)) if reason.contains("0x01"))
        );
        assert_eq!(
            method([b'H', b'T'], false),
            Err(Failure::Protocol(
                "the answer starts with 0x48, not SOCKS version 5: this is not a SOCKS5 proxy"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn username_and_password_follow_rfc_1929() {
        assert_eq!(auth_request(&credentials()), b"\x01\x05alice\x02pw");
        assert_eq!(auth_status([1, 0]), Ok(()));
        assert!(matches!(auth_status([1, 1]), Err(Failure::Auth(_))));
        assert!(matches!(auth_status([5, 0]), Err(Failure::Protocol(_))));
        assert_eq!(
            check_credentials("", "x"),
            Err("a SOCKS5 username may not be empty")
        );
        assert!(check_credentials(&"u".repeat(255), &"p".repeat(255)).is_ok());
        assert!(check_credentials("u", &"p".repeat(256)).is_err());
    }

    #[test]
    fn connect_requests_carry_names_or_addresses() {
        assert_eq!(
            connect_request(&Address::from_host("example.com", 443)).unwrap(),
            b"\x05\x01\x00\x03\x0bexample.com\x01\xbb"
        );
        assert_eq!(
            connect_request(&Address::from_host("127.0.0.1", 80)).unwrap(),
            b"\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50"
        );
        let v6 = connect_request(&Address::from_host("::1", 8080)).unwrap();
        assert_eq!(&v6[..4], b"\x05\x01\x00\x04");
        assert_eq!(v6.len(), 4 + 16 + 2);
        assert!(connect_request(&Address::from_host(&"a".repeat(256), 1)).is_err());
    }

    #[test]
    fn replies_say_whether_the_server_was_reached() {
        assert_eq!(reply_head([5, 0, 0, 1]), Ok(Some(6)));
        assert_eq!(reply_head([5, 0, 0, 4]), Ok(Some(18)));
        assert_eq!(reply_head([5, 0, 0, 3]), Ok(None));
        assert_eq!(
            reply_head([5, 2, 0, 1]),
            Err(Failure::Refused(
                "connection not allowed by ruleset".to_owned()
            ))
        );
        assert_eq!(
            reply_head([5, 5, 0, 1]),
            Err(Failure::Refused(
                "connection refused by the server".to_owned()
            ))
        );
        assert!(matches!(
            reply_head([5, 0, 0, 9]),
            Err(Failure::Protocol(_))
        ));
        assert!(matches!(
            reply_head([4, 0, 0, 1]),
            Err(Failure::Protocol(_))
        ));
    }
}
