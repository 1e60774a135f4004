//! Table-driven handshake tests: the vectors in `testdata/handshake/*.toml`.
//!
//! Every message is parsed whole, and again split at every byte boundary (the first part fed
//! alone, then the whole); each split must give exactly the answer the whole message gives.
//! Then that answer is checked against the vector.
//!
//! Messages are written in the files with `\n` line endings for readability; the harness
//! turns each `\n` into `\r\n` unless the case says `raw = true`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use http::{HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;
use weft_handshake::{
    ClientBuilder, ClientHandshake, Error, Extension, Limits, OriginPolicy, Parsed, Request,
    Server, UpgradeRequest, accept_key, format_extensions, parse_extension_list,
};

fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/handshake")
}

fn load<T: for<'de> Deserialize<'de>>(file: &str) -> T {
    let path = vector_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    toml::from_str(&text).unwrap_or_else(|err| panic!("cannot parse {}: {err}", path.display()))
}

/// A message as bytes: `\n` becomes `\r\n` unless the case is raw.
fn wire(text: &str, raw: bool) -> Vec<u8> {
    if raw {
        text.as_bytes().to_vec()
    } else {
        text.replace('\n', "\r\n").into_bytes()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSpec {
    max_start_line: Option<usize>,
    max_header_bytes: Option<usize>,
    max_headers: Option<usize>,
    max_refusal_body: Option<usize>,
}

impl LimitsSpec {
    fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        if let Some(n) = self.max_start_line {
            limits = limits.with_max_start_line(n);
        }
        if let Some(n) = self.max_header_bytes {
            limits = limits.with_max_header_bytes(n);
        }
        if let Some(n) = self.max_headers {
            limits = limits.with_max_headers(n);
        }
        if let Some(n) = self.max_refusal_body {
            limits = limits.with_max_refusal_body(n);
        }
        limits
    }
}

/// A short name for each error variant, as the vectors spell them.
fn kind(error: &Error) -> &'static str {
    match error {
        Error::StartLineTooLong { .. } => "start-line-too-long",
        Error::HeaderSectionTooLarge { .. } => "header-section-too-large",
        Error::TooManyHeaders { .. } => "too-many-headers",
        Error::MalformedHttp { .. } => "malformed-http",
        Error::UnexpectedEof => "unexpected-eof",
        Error::MethodNotAllowed { .. } => "method-not-allowed",
        Error::UnsupportedHttpVersion { .. } => "unsupported-http-version",
        Error::MissingHeader { .. } => "missing-header",
        Error::InvalidHeader { .. } => "invalid-header",
        Error::UnsupportedWebSocketVersion { .. } => "unsupported-websocket-version",
        Error::OriginRefused { .. } => "origin-refused",
        Error::MalformedExtensions { .. } => "malformed-extensions",
        Error::InvalidToken { .. } => "invalid-token",
        Error::InvalidUri { .. } => "invalid-uri",
        Error::ReservedHeader { .. } => "reserved-header",
        Error::Refused { .. } => "refused",
        Error::AcceptMismatch { .. } => "accept-mismatch",
        Error::ProtocolNotOffered { .. } => "protocol-not-offered",
        Error::ExtensionNotOffered { .. } => "extension-not-offered",
        _ => "unknown",
    }
}

/// Checks every split of `input` against the whole, and returns the answer for the whole.
fn at_every_split<O: std::fmt::Debug + PartialEq>(
    name: &str,
    input: &[u8],
    run: impl Fn(&[&[u8]]) -> O,
) -> O {
    let whole = run(&[input]);
    for split in 0..=input.len() {
        let outcome = run(&[&input[..split], input]);
        assert_eq!(
            outcome,
            whole,
            "{name}: split at byte {split} of {}",
            input.len()
        );
    }
    whole
}

// ---------------------------------------------------------------------------------------
// Accept keys.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptFile {
    case: Vec<AcceptCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptCase {
    key: String,
    accept: String,
}

#[test]
fn accept_keys() {
    let file: AcceptFile = load("accept.toml");
    assert!(!file.case.is_empty());
    for case in &file.case {
        assert_eq!(
            accept_key(case.key.as_bytes()),
            case.accept,
            "key {:?}",
            case.key
        );
    }
}

// ---------------------------------------------------------------------------------------
// Server side.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    case: Vec<ServerCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerCase {
    name: String,
    request: String,
    #[serde(default)]
    raw: bool,
    /// Bytes after the request head (WebSocket frames, a body); never consumed.
    #[serde(default)]
    trailing: String,
    #[serde(default)]
    limits: LimitsSpec,
    /// The server's subprotocols, most preferred first.
    #[serde(default)]
    protocols: Vec<String>,
    /// `"last-offered"`: a selector that picks the client's last offer.
    selector: Option<String>,
    /// `"any"`, `"same-host"` (the default) or `"list"` (with `allowed_origins`).
    origin: Option<String>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    /// Extension names the negotiator agrees to: the first offer of each, as offered.
    #[serde(default)]
    accept_extensions: Vec<String>,

    /// `"upgrade"`, `"plain"` or `"reject"`.
    expect: String,
    // upgrade
    response: Option<String>,
    protocol: Option<String>,
    agreed_extensions: Option<String>,
    #[serde(default)]
    extensions_error: bool,
    // plain
    method: Option<String>,
    uri: Option<String>,
    version: Option<String>,
    // reject
    status: Option<u16>,
    error: Option<String>,
    /// Headers the rejection must carry.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
}

/// Everything observable about the server's answer to one request.
#[derive(Debug, PartialEq)]
enum ServerOutcome {
    /// Still waiting after the whole input.
    Partial,
    Upgrade {
        consumed: usize,
        response: String,
        protocol: Option<String>,
        extensions: String,
        extensions_error: Option<String>,
    },
    Plain {
        consumed: usize,
        request: String,
    },
    Reject {
        status: StatusCode,
        kind: &'static str,
        cause: String,
        bytes: String,
    },
}

impl ServerCase {
    fn server(&self) -> Server {
        let mut builder = Server::builder()
            .limits(self.limits.limits())
            .protocols(&self.protocols);
        builder = match self.selector.as_deref() {
            None => builder,
            Some("last-offered") => builder
                .select_protocol(|request: &UpgradeRequest| request.protocols().last().cloned()),
            Some(other) => panic!("{}: unknown selector {other:?}", self.name),
        };
        let policy = match self.origin.as_deref() {
            None | Some("same-host") => OriginPolicy::SameHost,
            Some("any") => OriginPolicy::Any,
            Some("list") => OriginPolicy::allow_list(&self.allowed_origins),
            Some(other) => panic!("{}: unknown origin policy {other:?}", self.name),
        };
        builder = builder.origin_policy(policy);
        if !self.accept_extensions.is_empty() {
            let names = self.accept_extensions.clone();
            builder = builder.extensions(move |offers: &[Extension]| {
                names
                    .iter()
                    .filter_map(|name| offers.iter().find(|offer| offer.name() == name).cloned())
                    .collect()
            });
        }
        builder
            .build()
            .unwrap_or_else(|err| panic!("{}: {err}", self.name))
    }

    fn input(&self) -> Vec<u8> {
        let mut input = wire(&self.request, self.raw);
        input.extend_from_slice(self.trailing.as_bytes());
        input
    }

    /// Feeds the pieces (each a longer prefix of the input) and answers as a server would.
    fn run(&self, pieces: &[&[u8]]) -> ServerOutcome {
        let server = self.server();
        let mut parser = server.parser();
        let reject = |rejection: weft_handshake::Rejection| {
            let cause = rejection
                .cause()
                .expect("every parse or validate rejection has a cause");
            ServerOutcome::Reject {
                status: rejection.status(),
                kind: kind(cause),
                cause: cause.to_string(),
                bytes: String::from_utf8_lossy(&rejection.to_vec()).into_owned(),
            }
        };
        for piece in pieces {
            let (request, consumed) = match parser.parse(piece) {
                Ok(Parsed::Partial) => continue,
                Ok(Parsed::Complete { value, consumed }) => (value, consumed),
                Err(rejection) => return reject(rejection),
            };
            return match request {
                Request::Upgrade(request) => match server.validate(request) {
                    Ok(request) => {
                        let accept = server.accept(&request);
                        ServerOutcome::Upgrade {
                            consumed,
                            response: String::from_utf8(accept.to_vec()).unwrap(),
                            protocol: accept.negotiated().protocol().map(str::to_owned),
                            extensions: format_extensions(accept.negotiated().extensions()),
                            extensions_error: request.extensions_error().map(|e| e.to_string()),
                        }
                    }
                    Err(rejection) => reject(rejection),
                },
                Request::Plain(request) => ServerOutcome::Plain {
                    consumed,
                    request: format!("{request:?}"),
                },
                other => panic!("unknown request kind {other:?}"),
            };
        }
        ServerOutcome::Partial
    }

    fn check(&self, outcome: &ServerOutcome) {
        let name = &self.name;
        let head_len = wire(&self.request, self.raw).len();
        match (self.expect.as_str(), outcome) {
            (
                "upgrade",
                ServerOutcome::Upgrade {
                    consumed,
                    response,
                    protocol,
                    extensions,
                    extensions_error,
                },
            ) => {
                assert_eq!(*consumed, head_len, "{name}: consumed");
                if let Some(expected) = &self.response {
                    let expected = String::from_utf8(wire(expected, false)).unwrap();
                    assert_eq!(*response, expected, "{name}: response");
                }
                assert_eq!(protocol, &self.protocol, "{name}: protocol");
                let agreed = self.agreed_extensions.as_deref().unwrap_or("");
                assert_eq!(extensions, agreed, "{name}: extensions");
                assert_eq!(
                    extensions_error.is_some(),
                    self.extensions_error,
                    "{name}: {outcome:?}"
                );
            }
            ("plain", ServerOutcome::Plain { consumed, .. }) => {
                assert_eq!(*consumed, head_len, "{name}: consumed");
                // Re-parse to look at the request itself.
                let server = self.server();
                let Ok(Parsed::Complete { value, .. }) = server.parser().parse(&self.input())
                else {
                    unreachable!()
                };
                let request = value.request();
                if let Some(method) = &self.method {
                    assert_eq!(request.method().as_str(), method, "{name}: method");
                }
                if let Some(uri) = &self.uri {
                    assert_eq!(request.uri().to_string(), *uri, "{name}: uri");
                }
                if let Some(version) = &self.version {
                    assert_eq!(
                        format!("{:?}", request.version()),
                        *version,
                        "{name}: version"
                    );
                }
            }
            (
                "reject",
                ServerOutcome::Reject {
                    status,
                    kind,
                    bytes,
                    ..
                },
            ) => {
                let expected = self.status.unwrap_or_else(|| panic!("{name}: no status"));
                assert_eq!(status.as_u16(), expected, "{name}: status in {outcome:?}");
                if let Some(error) = &self.error {
                    assert_eq!(kind, error, "{name}: error kind in {outcome:?}");
                }
                let (head, body) = bytes.split_once("\r\n\r\n").expect("a head and a body");
                let head = head.to_ascii_lowercase();
                for (header, value) in &self.headers {
                    let line = format!("\r\n{}: {}", header.to_ascii_lowercase(), value);
                    assert!(
                        head.contains(&line.to_ascii_lowercase()),
                        "{name}: {line:?} in {head}"
                    );
                }
                assert!(
                    head.contains("\r\ncontent-type: text/plain; charset=utf-8"),
                    "{name}"
                );
                assert!(
                    head.contains(&format!("\r\ncontent-length: {}", body.len())),
                    "{name}"
                );
                assert!(
                    !body.trim().is_empty(),
                    "{name}: a rejection explains itself"
                );
                if let Some(expected) = &self.body {
                    assert_eq!(body, expected, "{name}: body");
                }
            }
            (expect, outcome) => panic!("{name}: expected {expect}, got {outcome:?}"),
        }
    }
}

#[test]
fn server_vectors() {
    let file: ServerFile = load("server.toml");
    let mut seen_statuses = std::collections::BTreeSet::new();
    for case in &file.case {
        let input = case.input();
        let outcome = at_every_split(&case.name, &input, |pieces| case.run(pieces));
        case.check(&outcome);
        if let ServerOutcome::Reject { status, .. } = outcome {
            seen_statuses.insert(status.as_u16());
        }
    }
    // The vectors cover every rejection the issue asks for.
    assert_eq!(
        seen_statuses.into_iter().collect::<Vec<_>>(),
        [400, 403, 405, 414, 426, 431]
    );
}

// ---------------------------------------------------------------------------------------
// Client side.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    case: Vec<ClientCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientCase {
    name: String,
    uri: String,
    #[serde(default)]
    protocols: Vec<String>,
    /// Extension offers, each in header form.
    #[serde(default)]
    offers: Vec<String>,
    /// Extra request headers, as `[name, value]` pairs.
    #[serde(default)]
    headers: Vec<[String; 2]>,
    #[serde(default)]
    limits: LimitsSpec,
    /// The expected request head; `{key}` stands for the random key.
    request: Option<String>,
    /// The server's response; `{accept}` stands for the accept value of the key.
    response: Option<String>,
    #[serde(default)]
    raw: bool,
    /// Bytes after the response (WebSocket frames, or a body).
    #[serde(default)]
    trailing: String,
    /// Whether the server closes the connection after the response.
    #[serde(default)]
    eof: bool,

    /// `"upgraded"`, `"error"` (from the response) or `"build-error"`.
    expect: String,
    protocol: Option<String>,
    agreed_extensions: Option<String>,
    error: Option<String>,
    /// The error's message, exactly.
    message: Option<String>,
    // Refused
    status: Option<u16>,
    body: Option<String>,
    body_complete: Option<bool>,
}

/// Everything observable about the client's reading of one response. Key-dependent text is
/// replaced by the placeholders, since every run draws a fresh key.
#[derive(Debug, PartialEq)]
enum ClientOutcome {
    Partial,
    Upgraded {
        consumed: usize,
        response: String,
        protocol: Option<String>,
        extensions: String,
    },
    Error {
        kind: &'static str,
        message: String,
        status: Option<u16>,
        body: Option<String>,
        body_complete: Option<bool>,
    },
}

impl ClientCase {
    fn builder(&self) -> ClientBuilder {
        let mut builder = ClientBuilder::new(&self.uri)
            .limits(self.limits.limits())
            .protocols(&self.protocols);
        for offer in &self.offers {
            for extension in parse_extension_list(offer.as_bytes()).unwrap() {
                builder = builder.extension(extension);
            }
        }
        for [name, value] in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            builder = builder.header(name, HeaderValue::from_str(value).unwrap());
        }
        builder
    }

    fn response_for(&self, handshake: &ClientHandshake) -> Vec<u8> {
        let response = self
            .response
            .as_deref()
            .unwrap_or_else(|| panic!("{}: no response", self.name));
        let response = response.replace("{accept}", &accept_key(handshake.key().as_bytes()));
        let mut bytes = wire(&response, self.raw);
        bytes.extend_from_slice(self.trailing.as_bytes());
        bytes
    }

    fn run(&self, handshake: &mut ClientHandshake, pieces: &[&[u8]]) -> ClientOutcome {
        let key = handshake.key().to_owned();
        let accept = accept_key(key.as_bytes());
        let placeholders = |text: String| text.replace(&accept, "{accept}").replace(&key, "{key}");
        let error = |err: Error| {
            let message = placeholders(err.to_string());
            match err {
                Error::Refused {
                    response,
                    body_complete,
                } => ClientOutcome::Error {
                    kind: "refused",
                    message,
                    status: Some(response.status().as_u16()),
                    body: Some(String::from_utf8_lossy(response.body()).into_owned()),
                    body_complete: Some(body_complete),
                },
                other => ClientOutcome::Error {
                    kind: kind(&other),
                    message,
                    status: None,
                    body: None,
                    body_complete: None,
                },
            }
        };
        let upgraded = |value: weft_handshake::Upgraded, consumed| ClientOutcome::Upgraded {
            consumed,
            response: placeholders(format!("{:?}", value.response())),
            protocol: value.negotiated().protocol().map(str::to_owned),
            extensions: format_extensions(value.negotiated().extensions()),
        };
        let mut last: &[u8] = &[];
        for piece in pieces {
            last = piece;
            match handshake.parse_response(piece) {
                Ok(Parsed::Partial) => {}
                Ok(Parsed::Complete { value, consumed }) => return upgraded(value, consumed),
                Err(err) => return error(err),
            }
        }
        if self.eof {
            return match handshake.parse_response_eof(last) {
                Ok((value, consumed)) => upgraded(value, consumed),
                Err(err) => error(err),
            };
        }
        ClientOutcome::Partial
    }

    fn check(&self, outcome: &ClientOutcome, head_len: usize) {
        let name = &self.name;
        match (self.expect.as_str(), outcome) {
            (
                "upgraded",
                ClientOutcome::Upgraded {
                    consumed,
                    protocol,
                    extensions,
                    ..
                },
            ) => {
                assert_eq!(*consumed, head_len, "{name}: consumed");
                assert_eq!(protocol, &self.protocol, "{name}: protocol");
                let agreed = self.agreed_extensions.as_deref().unwrap_or("");
                assert_eq!(extensions, agreed, "{name}: extensions");
            }
            (
                "error",
                ClientOutcome::Error {
                    kind,
                    message,
                    status,
                    body,
                    body_complete,
                },
            ) => {
                let expected = self
                    .error
                    .as_deref()
                    .unwrap_or_else(|| panic!("{name}: no error"));
                assert_eq!(*kind, expected, "{name}: {message}");
                if let Some(expected) = &self.message {
                    assert_eq!(message, expected, "{name}: message");
                }
                assert_eq!(*status, self.status, "{name}: status");
                assert_eq!(body, &self.body, "{name}: body");
                assert_eq!(*body_complete, self.body_complete, "{name}: body_complete");
            }
            (expect, outcome) => panic!("{name}: expected {expect}, got {outcome:?}"),
        }
    }
}

#[test]
fn client_vectors() {
    let file: ClientFile = load("client.toml");
    let mut kinds = std::collections::BTreeSet::new();
    for case in &file.case {
        let name = &case.name;
        let built = case.builder().build();
        if case.expect == "build-error" {
            let err = built.expect_err(name);
            let expected = case
                .error
                .as_deref()
                .unwrap_or_else(|| panic!("{name}: no error"));
            assert_eq!(kind(&err), expected, "{name}: {err}");
            if let Some(message) = &case.message {
                assert_eq!(&err.to_string(), message, "{name}: message");
            }
            kinds.insert(kind(&err));
            continue;
        }
        let handshake = built.unwrap_or_else(|err| panic!("{name}: {err}"));

        if let Some(expected) = &case.request {
            let expected = expected.replace("{key}", handshake.key());
            assert_eq!(
                String::from_utf8(handshake.to_vec()).unwrap(),
                String::from_utf8(wire(&expected, false)).unwrap(),
                "{name}: request"
            );
        }
        let input = case.response_for(&handshake);
        let head_len = input.len() - case.trailing.len();
        // Each run needs a handshake of its own (parsing changes it); each draws a fresh key,
        // so the response is rebuilt for that key.
        let outcome = {
            let whole = {
                let mut handshake = case.builder().build().unwrap();
                let input = case.response_for(&handshake);
                case.run(&mut handshake, &[&input])
            };
            for split in 0..=input.len() {
                let mut handshake = case.builder().build().unwrap();
                let input = case.response_for(&handshake);
                let outcome = case.run(&mut handshake, &[&input[..split], &input]);
                assert_eq!(
                    outcome,
                    whole,
                    "{name}: split at byte {split} of {}",
                    input.len()
                );
            }
            whole
        };
        case.check(&outcome, head_len);
        if let ClientOutcome::Error { kind, .. } = outcome {
            kinds.insert(kind);
        }
    }
    let expected = [
        "accept-mismatch",
        "extension-not-offered",
        "header-section-too-large",
        "invalid-header",
        "invalid-token",
        "invalid-uri",
        "malformed-extensions",
        "malformed-http",
        "missing-header",
        "protocol-not-offered",
        "refused",
        "reserved-header",
        "start-line-too-long",
        "too-many-headers",
        "unexpected-eof",
        "unsupported-http-version",
    ];
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), expected);
}

/// The client's request, parsed by the server, is accepted, and the server's answer is
/// accepted by the client: the two sides agree with each other, not just with the vectors.
#[test]
fn client_and_server_agree() {
    let server = Server::builder()
        .protocols(["chat.v2", "chat.v1"])
        .origin_policy(OriginPolicy::Any)
        .extensions(|offers: &[Extension]| offers.iter().take(1).cloned().collect())
        .build()
        .unwrap();
    let mut client = ClientBuilder::new("ws://[::1]:9001/chat?room=7")
        .protocols(["chat.v1", "chat.v2"])
        .extension(
            Extension::new("x-test")
                .unwrap()
                .with_param("a", Some("1"))
                .unwrap(),
        )
        .build()
        .unwrap();

    let request = client.to_vec();
    let Ok(Parsed::Complete {
        value: Request::Upgrade(request),
        consumed,
    }) = server.parser().parse(&request)
    else {
        panic!("not an upgrade")
    };
    assert_eq!(consumed, client.to_vec().len());
    assert_eq!(request.uri(), "/chat?room=7");
    let request = server.validate(request).unwrap();
    let accept = server.accept(&request);

    let response = accept.to_vec();
    let Ok(Parsed::Complete { value, consumed }) = client.parse_response(&response) else {
        panic!("not upgraded")
    };
    assert_eq!(consumed, response.len());
    assert_eq!(value.negotiated(), accept.negotiated());
    assert_eq!(value.negotiated().protocol(), Some("chat.v2"));
    assert_eq!(
        format_extensions(value.negotiated().extensions()),
        "x-test; a=1"
    );
}
