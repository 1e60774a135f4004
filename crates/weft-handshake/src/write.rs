//! Writing HTTP/1.1 message heads: `http` types do not serialize themselves.

use bytes::BufMut;
use http::header::{HeaderMap, HeaderName};
use http::{StatusCode, Version};

/// Writes a request head (request line, headers, blank line) in HTTP/1.1 form.
///
/// The request target is the URI's path and query (origin form), which is what a WebSocket
/// handshake sends; a URI without a path gets `/`. The version is HTTP/1.0 if the request
/// says so and HTTP/1.1 otherwise. Header names are written in their conventional case
/// (`Sec-WebSocket-Key`, `Content-Length`) since some peers compare them case-sensitively,
/// though HTTP says they should not. The body is not written.
///
/// # Example
///
/// ```
/// let request = http::Request::get("ws://example.com/chat?room=1")
///     .header("host", "example.com")
///     .body(())?;
/// let mut bytes = Vec::new();
/// weft_handshake::write_request(&request, &mut bytes);
/// assert_eq!(bytes, b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
/// # Ok::<(), http::Error>(())
/// ```
pub fn write_request<T, B: BufMut + ?Sized>(request: &http::Request<T>, dst: &mut B) {
    dst.put_slice(request.method().as_str().as_bytes());
    dst.put_u8(b' ');
    let target = request
        .uri()
        .path_and_query()
        .map_or("", |target| target.as_str());
    if !target.starts_with('/') && target != "*" {
        dst.put_u8(b'/');
    }
    dst.put_slice(target.as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(version(request.version()));
    dst.put_slice(b"\r\n");
    write_headers(request.headers(), dst);
}

/// Writes a response head (status line, headers, blank line) in HTTP/1.1 form.
///
/// The reason phrase is the status's canonical one (empty for an unknown status). Header
/// names are written in their conventional case, as [`write_request`] does. The body is not
/// written.
///
/// # Example
///
/// ```
/// use bytes::BytesMut;
///
/// let response = http::Response::builder().status(404).header("content-length", "0").body(())?;
/// let mut bytes = BytesMut::new();
/// weft_handshake::write_response(&response, &mut bytes);
/// assert_eq!(&bytes[..], b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
/// # Ok::<(), http::Error>(())
/// ```
pub fn write_response<T, B: BufMut + ?Sized>(response: &http::Response<T>, dst: &mut B) {
    write_status_line(response.version(), response.status(), dst);
    write_headers(response.headers(), dst);
}

fn write_status_line<B: BufMut + ?Sized>(version_: Version, status: StatusCode, dst: &mut B) {
    dst.put_slice(version(version_));
    dst.put_u8(b' ');
    dst.put_slice(status.as_str().as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
    dst.put_slice(b"\r\n");
}

fn version(version: Version) -> &'static [u8] {
    if version == Version::HTTP_10 {
        b"HTTP/1.0"
    } else {
        b"HTTP/1.1"
    }
}

fn write_headers<B: BufMut + ?Sized>(headers: &HeaderMap, dst: &mut B) {
    for (name, value) in headers {
        write_name(name, dst);
        dst.put_slice(b": ");
        dst.put_slice(value.as_bytes());
        dst.put_slice(b"\r\n");
    }
    dst.put_slice(b"\r\n");
}

/// Writes a header name in conventional case: the WebSocket headers as RFC 6455 spells them,
/// any other name with a capital after each `-`.
fn write_name<B: BufMut + ?Sized>(name: &HeaderName, dst: &mut B) {
    let canonical: Option<&[u8]> = match name.as_str() {
        "sec-websocket-key" => Some(b"Sec-WebSocket-Key"),
        "sec-websocket-accept" => Some(b"Sec-WebSocket-Accept"),
        "sec-websocket-version" => Some(b"Sec-WebSocket-Version"),
        "sec-websocket-protocol" => Some(b"Sec-WebSocket-Protocol"),
        "sec-websocket-extensions" => Some(b"Sec-WebSocket-Extensions"),
        _ => None,
    };
    if let Some(canonical) = canonical {
        dst.put_slice(canonical);
        return;
    }
    let mut capital = true;
    for &byte in name.as_str().as_bytes() {
        dst.put_u8(if capital {
            byte.to_ascii_uppercase()
        } else {
            byte
        });
        capital = byte == b'-';
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_header_names_are_spelled_as_in_the_rfc() {
        let response = http::Response::builder()
            .status(101)
            .header("upgrade", "websocket")
            .header("sec-websocket-accept", "x")
            .header("x-powered-by", "weft")
            .body(())
            .unwrap();
        let mut out = Vec::new();
        write_response(&response, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: \
             x\r\nX-Powered-By: weft\r\n\r\n"
        );
    }

    #[test]
    fn request_targets() {
        let target = |uri: &str| {
            let request = http::Request::get(uri).body(()).unwrap();
            let mut out = Vec::new();
            write_request(&request, &mut out);
            let line = out.split(|&b| b == b'\r').next().unwrap().to_vec();
            String::from_utf8(line).unwrap()
        };
        assert_eq!(target("ws://h"), "GET / HTTP/1.1");
        assert_eq!(target("ws://h?q=1"), "GET /?q=1 HTTP/1.1");
        assert_eq!(target("ws://[::1]:9/a/b?c#d"), "GET /a/b?c HTTP/1.1");
        assert_eq!(target("/x"), "GET /x HTTP/1.1");
    }

    #[test]
    fn unknown_status_has_an_empty_reason() {
        let response = http::Response::builder().status(599).body(()).unwrap();
        let mut out = Vec::new();
        write_response(&response, &mut out);
        assert_eq!(out, b"HTTP/1.1 599 \r\n\r\n");
    }

    #[test]
    fn http_1_0_is_kept() {
        let request = http::Request::get("/")
            .version(Version::HTTP_10)
            .body(())
            .unwrap();
        let mut out = Vec::new();
        write_request(&request, &mut out);
        assert_eq!(out, b"GET / HTTP/1.0\r\n\r\n");
    }
}
