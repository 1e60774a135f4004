//! HTTP `CONNECT` (RFC 9110 §9.3.6): ask the proxy for a tunnel to `host:port`, with
//! `Proxy-Authorization: Basic` when there are credentials.

use base64::Engine as _;
use bytes::BytesMut;
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use weft_handshake::{Parsed, ResponseParser};

use super::{Credentials, Proxy};
use crate::{Error, Target, authority};

/// The step named in errors.
const STEP: &str = "CONNECT";

/// The request head asking for a tunnel to `target`.
pub(super) fn request(target: &str, credentials: Option<&Credentials>) -> Vec<u8> {
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(credentials) = credentials {
        let pair = format!("{}:{}", credentials.username, credentials.password);
        head.push_str("Proxy-Authorization: Basic ");
        head.push_str(&base64::engine::general_purpose::STANDARD.encode(pair));
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// What the proxy's answer means: `Ok` when the tunnel is open.
pub(super) fn verdict(
    proxy: &Proxy,
    target: &str,
    response: &http::Response<()>,
    extra: usize,
) -> Result<(), Error> {
    let status = response.status();
    if status.is_success() {
        if extra > 0 {
            // Nothing may arrive before the client speaks: neither a WebSocket server nor a
            // TLS server talks first. Bytes here are the proxy's, not the server's.
            return Err(Error::ProxyProtocol {
                proxy: proxy.to_string(),
                step: STEP,
                reason: format!(
                    "{extra} bytes arrived after the {status} answer, before the server could have sent any"
                ),
            });
        }
        return Ok(());
    }
    // 407 is the status for this; tinyproxy answers wrong credentials with 401, which can
    // only be about the proxy's own login here, since no server has been reached yet.
    if status == StatusCode::PROXY_AUTHENTICATION_REQUIRED || status == StatusCode::UNAUTHORIZED {
        let reason = if proxy.credentials.is_some() {
            format!("refused the username and password ({status})")
        } else {
            format!("requires a username and password ({status})")
        };
        return Err(Error::ProxyAuth {
            proxy: proxy.to_string(),
            reason,
        });
    }
    Err(Error::ProxyRefused {
        proxy: proxy.to_string(),
        target: target.to_owned(),
        reason: status.to_string(),
    })
}

/// Sends `CONNECT` over `stream` (connected to the proxy) and reads the answer.
pub(super) async fn open<S>(
    stream: &mut S,
    proxy: &Proxy,
    target: &Target,
    limits: weft_handshake::Limits,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let target = authority::join(&target.host, target.port);
    let failed = |reason: String| Error::ProxyProtocol {
        proxy: proxy.to_string(),
        step: STEP,
        reason,
    };
    stream
        .write_all(&request(&target, proxy.credentials.as_ref()))
        .await
        .map_err(|err| failed(format!("sending the request failed: {err}")))?;
    stream
        .flush()
        .await
        .map_err(|err| failed(format!("sending the request failed: {err}")))?;
    let mut parser = ResponseParser::new(limits);
    let mut buf = BytesMut::with_capacity(1024);
    let not_http = |err: weft_handshake::Error| failed(format!("the answer is not HTTP: {err}"));
    loop {
        if let Parsed::Complete { value, consumed } = parser.parse(&buf).map_err(not_http)? {
            return verdict(proxy, &target, &value, buf.len() - consumed);
        }
        let read = stream
            .read_buf(&mut buf)
            .await
            .map_err(|err| failed(format!("reading the answer failed: {err}")))?;
        if read == 0 {
            return match parser.parse_eof(&buf) {
                Ok((value, consumed)) => verdict(proxy, &target, &value, buf.len() - consumed),
                Err(weft_handshake::Error::UnexpectedEof) => Err(failed(if buf.is_empty() {
                    "the proxy closed the connection without answering".to_owned()
                } else {
                    "the proxy closed the connection in the middle of its answer".to_owned()
                })),
                Err(err) => Err(not_http(err)),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(url: &str) -> Proxy {
        Proxy::parse(url).unwrap()
    }

    fn response(status: u16) -> http::Response<()> {
        http::Response::builder().status(status).body(()).unwrap()
    }

    #[test]
    fn the_request_names_the_target_and_carries_basic_credentials() {
        assert_eq!(
            request("example.com:443", None),
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        );
        let with = proxy("http://Aladdin:open%20sesame@p:1");
        assert_eq!(
            String::from_utf8(request("[::1]:80", with.credentials.as_ref())).unwrap(),
            "CONNECT [::1]:80 HTTP/1.1\r\nHost: [::1]:80\r\n\
             Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
        );
    }

    #[test]
    fn each_answer_is_its_own_error() {
        let plain = proxy("http://p:3128");
        let with = proxy("http://u:wrong@p:3128");
        assert!(verdict(&plain, "h:80", &response(200), 0).is_ok());
        assert!(verdict(&plain, "h:80", &response(204), 0).is_ok());
        let text = |result: Result<(), Error>| result.unwrap_err().to_string();
        assert_eq!(
            text(verdict(&plain, "h:80", &response(407), 0)),
            "the proxy http://p:3128 requires a username and password (407 Proxy Authentication Required)"
        );
        assert_eq!(
            text(verdict(&with, "h:80", &response(407), 0)),
            "the proxy http://p:3128 refused the username and password (407 Proxy Authentication Required)"
        );
        assert_eq!(
            text(verdict(&with, "h:80", &response(401), 0)),
            "the proxy http://p:3128 refused the username and password (401 Unauthorized)"
        );
        assert_eq!(
            text(verdict(&plain, "h:80", &response(403), 0)),
            "the proxy http://p:3128 refused to connect to h:80: 403 Forbidden"
        );
        assert!(matches!(
            verdict(&plain, "h:80", &response(502), 0),
            Err(Error::ProxyRefused { .. })
        ));
        assert_eq!(
            text(verdict(&plain, "h:80", &response(200), 3)),
            "the proxy http://p:3128 failed at the CONNECT step: 3 bytes arrived after the \
             200 OK answer, before the server could have sent any"
        );
    }
}
