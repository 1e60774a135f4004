//! Property tests: whatever bytes a peer sends, the parsers neither panic nor ask the caller
//! to buffer past the caps, and feeding bytes in pieces never changes the answer.

use proptest::prelude::*;
use proptest::sample::{Index, select};
use weft_handshake::{
    ClientHandshake, Limits, OriginPolicy, Parsed, Request, RequestParser, Server, accept_key,
    format_extensions, parse_extension_list,
};

/// Pieces of HTTP heads, so that generated inputs often get far into the grammar (and
/// sometimes complete) instead of failing at the first byte.
const FRAGMENTS: &[&str] = &[
    "GET",
    "POST",
    " ",
    "/",
    "/chat?x=1",
    "HTTP/1.1",
    "HTTP/1.0",
    "HTTP/1.1 101 Switching Protocols",
    "HTTP/1.1 403 Forbidden",
    "\r\n",
    "\n",
    "\r",
    "\r\n\r\n",
    "Host: a",
    "Host: [::1]:80",
    "Origin: http://a",
    "Upgrade: websocket",
    "Connection: keep-alive, Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Protocol: a, b",
    "Sec-WebSocket-Extensions: x; y=\"1\", z",
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
    "Content-Length: 4",
    "Transfer-Encoding: chunked",
    "4\r\nbody\r\n0\r\n\r\n",
    ":",
    "\t",
    "\0",
    "\u{7f}",
    "é",
];

/// Mostly HTTP-like bytes, sometimes arbitrary ones.
fn input() -> impl Strategy<Value = Vec<u8>> {
    let http_like = prop::collection::vec(select(FRAGMENTS), 0..48)
        .prop_map(|parts| parts.concat().into_bytes());
    let noise = prop::collection::vec(any::<u8>(), 0..512);
    prop_oneof![
        3 => http_like,
        1 => noise,
        2 => (prop::collection::vec(select(FRAGMENTS), 0..24), prop::collection::vec(any::<u8>(), 0..16), any::<Index>())
            .prop_map(|(parts, junk, at)| {
                let mut bytes = parts.concat().into_bytes();
                let at = at.index(bytes.len() + 1);
                bytes.splice(at..at, junk);
                bytes
            }),
    ]
}

/// Small caps, so that generated inputs reach them.
fn limits() -> impl Strategy<Value = Limits> {
    (0usize..96, 0usize..320, 0usize..10, 0usize..64).prop_map(|(line, bytes, count, body)| {
        Limits::default()
            .with_max_start_line(line)
            .with_max_header_bytes(bytes)
            .with_max_headers(count)
            .with_max_refusal_body(body)
    })
}

/// Where to cut the input: sorted positions, ending with the whole input.
fn cuts(len: usize, picks: &[Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = picks.iter().map(|pick| pick.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts.push(len);
    cuts
}

/// Parses a request fed in pieces; checks the buffering bound on every `Partial`.
fn parse_request_in_pieces(input: &[u8], cuts: &[usize], limits: Limits) -> String {
    let server = Server::builder()
        .limits(limits)
        .origin_policy(OriginPolicy::Any)
        .build()
        .unwrap();
    let mut parser: RequestParser = server.parser();
    for &cut in cuts {
        match parser.parse(&input[..cut]) {
            Ok(Parsed::Partial) => {
                assert!(
                    cut <= limits.max_buffered(),
                    "Partial with {cut} bytes buffered"
                );
            }
            Ok(Parsed::Complete { value, consumed }) => {
                assert!(consumed <= cut);
                let outcome = format!("complete {consumed}: {value:?}");
                // Whatever parsed must also validate and be accepted without panicking.
                if let Request::Upgrade(request) = value {
                    match server.validate(request) {
                        Ok(request) => assert!(!server.accept(&request).to_vec().is_empty()),
                        Err(rejection) => assert!(rejection.status().is_client_error()),
                    }
                }
                return outcome;
            }
            Err(rejection) => {
                assert!(rejection.status().is_client_error(), "{rejection:?}");
                let _ = rejection.to_vec();
                return format!("rejected: {rejection:?}");
            }
        }
    }
    "partial".to_owned()
}

/// Parses a response fed in pieces, then at EOF; checks the buffering bound on every
/// `Partial`. Key-dependent text is normalized so two handshakes compare equal.
fn parse_response_in_pieces(input: &[u8], cuts: &[usize], limits: Limits) -> String {
    let mut handshake = ClientHandshake::builder("ws://a/")
        .protocols(["a", "b"])
        .extension(parse_extension_list(b"x").unwrap().remove(0))
        .limits(limits)
        .build()
        .unwrap();
    let key = handshake.key().to_owned();
    let accept = accept_key(key.as_bytes());
    let normalize = |text: String| text.replace(&accept, "{accept}").replace(&key, "{key}");
    let bound = limits.max_buffered() + limits.max_refusal_body();
    for &cut in cuts {
        match handshake.parse_response(&input[..cut]) {
            Ok(Parsed::Partial) => assert!(cut <= bound, "Partial with {cut} bytes buffered"),
            Ok(Parsed::Complete { value, consumed }) => {
                assert!(consumed <= cut);
                return normalize(format!("complete {consumed}: {value:?}"));
            }
            Err(err) => return normalize(format!("error: {err:?}")),
        }
    }
    match handshake.parse_response_eof(input) {
        Ok((value, consumed)) => normalize(format!("eof complete {consumed}: {value:?}")),
        Err(err) => normalize(format!("eof error: {err:?}")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn request_parser_is_total_bounded_and_split_invariant(
        input in input(),
        limits in limits(),
        picks in prop::collection::vec(any::<Index>(), 0..6),
    ) {
        let whole = parse_request_in_pieces(&input, &[input.len()], limits);
        let pieces = parse_request_in_pieces(&input, &cuts(input.len(), &picks), limits);
        prop_assert_eq!(pieces, whole);
    }

    #[test]
    fn request_parser_byte_by_byte_matches_whole(input in input(), limits in limits()) {
        let whole = parse_request_in_pieces(&input, &[input.len()], limits);
        let every: Vec<usize> = (0..=input.len()).collect();
        prop_assert_eq!(parse_request_in_pieces(&input, &every, limits), whole);
    }

    #[test]
    fn response_parser_is_total_bounded_and_split_invariant(
        input in input(),
        limits in limits(),
        picks in prop::collection::vec(any::<Index>(), 0..6),
    ) {
        let whole = parse_response_in_pieces(&input, &[input.len()], limits);
        let pieces = parse_response_in_pieces(&input, &cuts(input.len(), &picks), limits);
        prop_assert_eq!(pieces, whole);
    }

    #[test]
    fn response_parser_byte_by_byte_matches_whole(input in input(), limits in limits()) {
        let whole = parse_response_in_pieces(&input, &[input.len()], limits);
        let every: Vec<usize> = (0..=input.len()).collect();
        prop_assert_eq!(parse_response_in_pieces(&input, &every, limits), whole);
    }

    #[test]
    fn extension_parser_is_total_and_round_trips(input in input()) {
        if let Ok(list) = parse_extension_list(&input) {
            let written = format_extensions(&list);
            prop_assert_eq!(parse_extension_list(written.as_bytes()).unwrap(), list);
        }
    }
}

/// With default caps, a peer that never ends its head is cut off at the documented size.
#[test]
fn default_caps_cut_off_an_endless_head() {
    let limits = Limits::default();
    let mut parser = RequestParser::new(limits);
    let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
    let rejection = loop {
        buf.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        match parser.parse(&buf) {
            Ok(Parsed::Partial) => assert!(buf.len() <= limits.max_buffered()),
            Ok(Parsed::Complete { .. }) => panic!("an endless head completed"),
            Err(rejection) => break rejection,
        }
    };
    assert_eq!(rejection.status(), 431);
    assert!(buf.len() <= limits.max_buffered() + 64);

    let mut parser = RequestParser::new(limits);
    let mut buf = b"GET /".to_vec();
    let rejection = loop {
        buf.extend_from_slice(&[b'a'; 100]);
        match parser.parse(&buf) {
            Ok(Parsed::Partial) => assert!(buf.len() <= limits.max_buffered()),
            Ok(Parsed::Complete { .. }) => panic!("an endless request line completed"),
            Err(rejection) => break rejection,
        }
    };
    assert_eq!(rejection.status(), 414);
    assert!(buf.len() <= 8 * 1024 + 2 + 100);
}
