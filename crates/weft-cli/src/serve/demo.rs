//! The plain-HTTP side of `weft serve`: the demo page at `/`, 404 elsewhere.

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};

/// The demo page: inline HTML, CSS and JavaScript, no external resources.
const PAGE: &str = include_str!("demo.html");

/// How the page's body says which server it talks to; the script reads it.
const ECHO_MODE: &str = r#"<body data-mode="echo">"#;
const ROOM_MODE: &str = r#"<body data-mode="room">"#;

/// The page, for an echo server or, with `room`, for `--broadcast` (the page then shows the
/// room: what other clients say, and which of its own messages the room has carried).
pub(super) fn page(room: bool) -> Bytes {
    if room {
        Bytes::from(PAGE.replacen(ECHO_MODE, ROOM_MODE, 1))
    } else {
        Bytes::from_static(PAGE.as_bytes())
    }
}

/// Answers a plain HTTP request with `page` at `/`.
pub(super) fn respond(request: &http::Request<()>, page: &Bytes) -> Response<Bytes> {
    if !matches!(request.uri().path(), "/" | "/index.html") {
        return text(
            StatusCode::NOT_FOUND,
            "not found; this is a WebSocket echo server, its demo page is at /\n",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let mut response = Response::new(page.clone());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A short plain-text answer.
fn text(status: StatusCode, body: &'static str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(body.as_bytes()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str) -> http::Request<()> {
        http::Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .expect("a valid request")
    }

    #[test]
    fn the_page_is_at_the_root_and_index_html() {
        for path in ["/", "/index.html", "/?x=1"] {
            let response = respond(&request("GET", path), &page(false));
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "text/html; charset=utf-8"
            );
            assert!(response.body().starts_with(b"<!doctype html>"));
        }
        assert_eq!(
            respond(&request("HEAD", "/"), &page(false)).status(),
            StatusCode::OK
        );
    }

    #[test]
    fn other_paths_are_404_and_other_methods_405() {
        assert_eq!(
            respond(&request("GET", "/nope"), &page(false)).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            respond(&request("GET", "/index.htm"), &page(false)).status(),
            StatusCode::NOT_FOUND
        );
        let post = respond(&request("POST", "/"), &page(false));
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()[header::ALLOW], "GET, HEAD");
    }

    #[test]
    fn the_room_page_says_so_in_its_body() {
        assert!(PAGE.contains(ECHO_MODE), "the page's body carries its mode");
        let room = page(true);
        let room = std::str::from_utf8(&room).unwrap();
        assert!(room.contains(ROOM_MODE) && !room.contains(ECHO_MODE));
        assert_eq!(room.len(), PAGE.len());
    }

    /// The page must work offline: it loads nothing, and connects back to where it came from.
    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for external in [
            "http://",
            "https://",
            "src=",
            "@import",
            "url(",
            "stylesheet",
        ] {
            assert!(!PAGE.contains(external), "the page mentions {external:?}");
        }
        assert!(PAGE.contains("new WebSocket("));
        assert!(PAGE.contains("location.host"));
    }
}
