//! The `Sec-WebSocket-Extensions` header (RFC 6455 §9.1) and the server's negotiation hook.
//!
//! ```text
//! extension-list  = 1#extension
//! extension       = extension-token *( ";" extension-param )
//! extension-token = token
//! extension-param = token [ "=" (token | quoted-string) ]
//!     ; a quoted-string value, once unescaped, must itself be a token
//! ```
//!
//! Whitespace is allowed around `,`, `;` and `=` (the "implied *LWS rule" RFC 6455 §4.3
//! takes from RFC 2616), and empty list elements are skipped (RFC 9110 §5.6.1), so an empty
//! header holds no extensions rather than being an error.

use std::fmt;

use http::HeaderValue;

use crate::Error;
use crate::headers::is_token;

/// One extension in a `Sec-WebSocket-Extensions` header: its name and parameters, in order.
///
/// Names and values are always HTTP tokens, so an `Extension` can always be written back
/// into a header; values that arrived as quoted strings are stored unquoted.
///
/// # Example
///
/// ```
/// use weft_handshake::Extension;
///
/// let offer = Extension::new("permessage-deflate")?
///     .with_param("client_max_window_bits", None)?
///     .with_param("server_max_window_bits", Some("10"))?;
/// assert_eq!(
///     offer.to_string(),
///     "permessage-deflate; client_max_window_bits; server_max_window_bits=10"
/// );
/// assert_eq!(offer.param("server_max_window_bits").and_then(|p| p.value()), Some("10"));
/// # Ok::<(), weft_handshake::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extension {
    name: String,
    params: Vec<ExtensionParam>,
}

/// One parameter of an [`Extension`]: a name, and a value unless it is a bare flag.
///
/// # Example
///
/// ```
/// let offer = weft_handshake::Extension::new("x")?.with_param("flag", None)?;
/// let flag = &offer.params()[0];
/// assert_eq!((flag.name(), flag.value()), ("flag", None));
/// # Ok::<(), weft_handshake::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtensionParam {
    name: String,
    value: Option<String>,
}

impl Extension {
    /// An extension with no parameters. The name must be an HTTP token.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{Error, Extension};
    ///
    /// assert_eq!(Extension::new("permessage-deflate")?.name(), "permessage-deflate");
    /// assert!(matches!(Extension::new("not a token"), Err(Error::InvalidToken { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn new(name: &str) -> Result<Self, Error> {
        check_token("extension name", name)?;
        Ok(Extension {
            name: name.to_owned(),
            params: Vec::new(),
        })
    }

    /// Adds a parameter, with a value or as a bare flag. Name and value must be HTTP tokens.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{Error, Extension};
    ///
    /// let ext = Extension::new("x")?.with_param("level", Some("9"))?;
    /// assert_eq!(ext.to_string(), "x; level=9");
    /// assert!(Extension::new("x")?.with_param("level", Some("a b")).is_err());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn with_param(mut self, name: &str, value: Option<&str>) -> Result<Self, Error> {
        check_token("extension parameter name", name)?;
        if let Some(value) = value {
            check_token("extension parameter value", value)?;
        }
        self.params.push(ExtensionParam {
            name: name.to_owned(),
            value: value.map(str::to_owned),
        });
        Ok(self)
    }

    /// The extension's name, e.g. `permessage-deflate`.
    ///
    /// # Example
    ///
    /// ```
    /// let list = weft_handshake::parse_extension_list(b"foo; a=1")?;
    /// assert_eq!(list[0].name(), "foo");
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameters, in the order they were written.
    ///
    /// # Example
    ///
    /// ```
    /// let list = weft_handshake::parse_extension_list(b"foo; a=1; b")?;
    /// let names: Vec<_> = list[0].params().iter().map(|p| p.name()).collect();
    /// assert_eq!(names, ["a", "b"]);
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn params(&self) -> &[ExtensionParam] {
        &self.params
    }

    /// The first parameter with this name (compared exactly), if any.
    ///
    /// # Example
    ///
    /// ```
    /// let list = weft_handshake::parse_extension_list(b"foo; a=1; b")?;
    /// assert_eq!(list[0].param("a").and_then(|p| p.value()), Some("1"));
    /// assert!(list[0].param("b").is_some());
    /// assert!(list[0].param("c").is_none());
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn param(&self, name: &str) -> Option<&ExtensionParam> {
        self.params.iter().find(|param| param.name == name)
    }
}

impl ExtensionParam {
    /// The parameter's name.
    ///
    /// # Example
    ///
    /// ```
    /// let list = weft_handshake::parse_extension_list(b"foo; bar")?;
    /// assert_eq!(list[0].params()[0].name(), "bar");
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameter's value, unquoted; `None` for a bare flag.
    ///
    /// # Example
    ///
    /// ```
    /// let list = weft_handshake::parse_extension_list(br#"foo; a="15"; b"#)?;
    /// assert_eq!(list[0].params()[0].value(), Some("15"));
    /// assert_eq!(list[0].params()[1].value(), None);
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }
}

impl fmt::Display for Extension {
    /// Writes the extension in header form: `name; flag; key=value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for param in &self.params {
            write!(f, "; {}", param.name)?;
            if let Some(value) = &param.value {
                // Values are tokens (checked on the way in), so they never need quoting.
                write!(f, "={value}")?;
            }
        }
        Ok(())
    }
}

fn check_token(what: &'static str, value: &str) -> Result<(), Error> {
    if is_token(value.as_bytes()) {
        Ok(())
    } else {
        Err(Error::InvalidToken {
            what,
            value: value.to_owned(),
        })
    }
}

/// Parses every line of a `Sec-WebSocket-Extensions` header, in order, into one list.
///
/// Pass `headers.get_all(SEC_WEBSOCKET_EXTENSIONS)`; a header that is absent gives an empty
/// list. The first malformed line fails the whole header.
///
/// # Example
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::SEC_WEBSOCKET_EXTENSIONS};
///
/// let mut headers = HeaderMap::new();
/// headers.append(SEC_WEBSOCKET_EXTENSIONS, HeaderValue::from_static("foo, bar; x=1"));
/// headers.append(SEC_WEBSOCKET_EXTENSIONS, HeaderValue::from_static("baz"));
/// let list = weft_handshake::parse_extensions(headers.get_all(SEC_WEBSOCKET_EXTENSIONS))?;
/// let names: Vec<_> = list.iter().map(|e| e.name()).collect();
/// assert_eq!(names, ["foo", "bar", "baz"]);
/// # Ok::<(), weft_handshake::Error>(())
/// ```
pub fn parse_extensions<'a, I>(values: I) -> Result<Vec<Extension>, Error>
where
    I: IntoIterator<Item = &'a HeaderValue>,
{
    let mut list = Vec::new();
    for value in values {
        list.extend(parse_extension_list(value.as_bytes())?);
    }
    Ok(list)
}

/// Parses one `Sec-WebSocket-Extensions` header value.
///
/// # Example
///
/// ```
/// use weft_handshake::{Error, parse_extension_list};
///
/// let list = parse_extension_list(br#"mux; max-channels=4; flow-control, deflate-stream"#)?;
/// assert_eq!(list.len(), 2);
/// assert_eq!(list[0].to_string(), "mux; max-channels=4; flow-control");
///
/// // A quoted value must unescape to a token.
/// assert_eq!(parse_extension_list(br#"x; a="1""#)?[0].to_string(), "x; a=1");
/// assert!(matches!(
///     parse_extension_list(br#"x; a="1 2""#),
///     Err(Error::MalformedExtensions { .. })
/// ));
/// # Ok::<(), Error>(())
/// ```
pub fn parse_extension_list(value: &[u8]) -> Result<Vec<Extension>, Error> {
    let mut cursor = Cursor {
        bytes: value,
        pos: 0,
    };
    let mut list = Vec::new();
    loop {
        cursor.skip_ows();
        if cursor.eat(b',') {
            continue;
        }
        if cursor.at_end() {
            return Ok(list);
        }
        list.push(cursor.extension()?);
        cursor.skip_ows();
        if cursor.at_end() {
            return Ok(list);
        }
        if !cursor.eat(b',') {
            return Err(cursor.error("expected ',' or ';' after an extension"));
        }
    }
}

/// Writes a list of extensions as one `Sec-WebSocket-Extensions` header value.
///
/// # Example
///
/// ```
/// use weft_handshake::{Extension, format_extensions};
///
/// let list = [Extension::new("foo")?, Extension::new("bar")?.with_param("x", Some("1"))?];
/// assert_eq!(format_extensions(&list), "foo, bar; x=1");
/// # Ok::<(), weft_handshake::Error>(())
/// ```
pub fn format_extensions(extensions: &[Extension]) -> String {
    let mut out = String::new();
    for (i, extension) in extensions.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&extension.to_string());
    }
    out
}

/// A byte cursor over one header value.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn error(&self, reason: &'static str) -> Error {
        self.error_at(self.pos, reason)
    }

    fn error_at(&self, position: usize, reason: &'static str) -> Error {
        Error::MalformedExtensions {
            value: String::from_utf8_lossy(self.bytes).into_owned(),
            position,
            reason,
        }
    }

    /// A token, or `None` (consuming nothing) if none starts here.
    fn token(&mut self) -> Option<String> {
        let start = self.pos;
        while self.peek().is_some_and(crate::headers::is_tchar) {
            self.pos += 1;
        }
        // Token bytes are ASCII, so they are valid UTF-8.
        (self.pos > start).then(|| String::from_utf8_lossy(&self.bytes[start..self.pos]).into())
    }

    fn extension(&mut self) -> Result<Extension, Error> {
        let name = self
            .token()
            .ok_or_else(|| self.error("expected an extension name"))?;
        let mut params = Vec::new();
        loop {
            self.skip_ows();
            if !self.eat(b';') {
                return Ok(Extension { name, params });
            }
            self.skip_ows();
            let name = self
                .token()
                .ok_or_else(|| self.error("expected a parameter name after ';'"))?;
            self.skip_ows();
            let value = if self.eat(b'=') {
                self.skip_ows();
                if self.peek() == Some(b'"') {
                    Some(self.quoted_token()?)
                } else {
                    let value = self.token();
                    Some(value.ok_or_else(|| self.error("expected a parameter value after '='"))?)
                }
            } else {
                None
            };
            params.push(ExtensionParam { name, value });
        }
    }

    /// A quoted-string whose unescaped content is a token (RFC 6455 §9.1).
    fn quoted_token(&mut self) -> Result<String, Error> {
        let start = self.pos;
        self.pos += 1; // the opening quote
        let mut content = Vec::new();
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.error_at(start, "unterminated quoted string"));
            };
            self.pos += 1;
            match byte {
                b'"' => break,
                b'\\' => match self.peek() {
                    Some(escaped @ (b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff)) => {
                        self.pos += 1;
                        content.push(escaped);
                    }
                    Some(_) => return Err(self.error("invalid escaped character")),
                    None => return Err(self.error_at(start, "unterminated quoted string")),
                },
                b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => content.push(byte),
                _ => return Err(self.error_at(self.pos - 1, "invalid character in quoted string")),
            }
        }
        if !is_token(&content) {
            return Err(self.error_at(start, "quoted parameter value is not a token"));
        }
        Ok(String::from_utf8_lossy(&content).into_owned())
    }
}

/// The server's extension negotiation: it sees every offer the client made, in the client's
/// order of preference, and returns the extensions the server agrees to, with the parameters
/// to send back in the 101 response.
///
/// This is the hook an extension crate fills (weft-deflate's permessage-deflate
/// negotiation); this crate knows no extension itself. Return an empty list to decline
/// everything. A closure `Fn(&[Extension]) -> Vec<Extension>` is a negotiator too.
///
/// The server drops any returned extension whose name the client did not offer, because
/// RFC 6455 §9.1 forbids answering with one and the client would fail the connection.
/// When the client's header is malformed the hook is not called at all.
///
/// # Example
///
/// ```
/// use weft_handshake::{Extension, ExtensionNegotiator};
///
/// /// Agrees to the first `x-echo` offer, with the parameters as offered.
/// #[derive(Debug)]
/// struct Echo;
///
/// impl ExtensionNegotiator for Echo {
///     fn negotiate(&self, offers: &[Extension]) -> Vec<Extension> {
///         offers.iter().find(|offer| offer.name() == "x-echo").cloned().into_iter().collect()
///     }
/// }
///
/// let offers = weft_handshake::parse_extension_list(b"x-other, x-echo; a=1, x-echo")?;
/// assert_eq!(Echo.negotiate(&offers), [Extension::new("x-echo")?.with_param("a", Some("1"))?]);
/// # Ok::<(), weft_handshake::Error>(())
/// ```
pub trait ExtensionNegotiator: Send + Sync {
    /// Chooses the extensions to agree to, given the client's offers in order.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{Extension, ExtensionNegotiator};
    ///
    /// // A closure that declines everything.
    /// let decline = |_: &[Extension]| Vec::new();
    /// let offers = weft_handshake::parse_extension_list(b"permessage-deflate")?;
    /// assert!(decline.negotiate(&offers).is_empty());
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    fn negotiate(&self, offers: &[Extension]) -> Vec<Extension>;
}

impl<F> ExtensionNegotiator for F
where
    F: Fn(&[Extension]) -> Vec<Extension> + Send + Sync,
{
    fn negotiate(&self, offers: &[Extension]) -> Vec<Extension> {
        self(offers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<Vec<Extension>, Error> {
        parse_extension_list(value.as_bytes())
    }

    /// An extension built from a name and `(param, value)` pairs, for expected values.
    fn ext(name: &str, params: &[(&str, Option<&str>)]) -> Extension {
        params
            .iter()
            .fold(Extension::new(name).unwrap(), |ext, (param, value)| {
                ext.with_param(param, *value).unwrap()
            })
    }

    /// The position and reason of a parse error, or a panic naming the input.
    fn error_of(value: &str) -> (usize, &'static str) {
        match parse(value) {
            Err(Error::MalformedExtensions {
                position,
                reason,
                value: echoed,
            }) => {
                assert_eq!(echoed, value);
                (position, reason)
            }
            other => panic!("{value:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn single_extension_without_params() {
        assert_eq!(
            parse("permessage-deflate").unwrap(),
            [ext("permessage-deflate", &[])]
        );
    }

    #[test]
    fn several_offers_on_one_line_with_and_without_values() {
        let list = parse(
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10, \
             permessage-deflate;client_no_context_takeover",
        )
        .unwrap();
        assert_eq!(
            list,
            [
                ext(
                    "permessage-deflate",
                    &[
                        ("client_max_window_bits", None),
                        ("server_max_window_bits", Some("10"))
                    ]
                ),
                ext(
                    "permessage-deflate",
                    &[("client_no_context_takeover", None)]
                ),
            ]
        );
    }

    #[test]
    fn several_header_lines_keep_their_order() {
        let lines = [
            HeaderValue::from_static("a, b"),
            HeaderValue::from_static("c; x=1"),
            HeaderValue::from_static("d"),
        ];
        let list = parse_extensions(&lines).unwrap();
        let names: Vec<_> = list.iter().map(Extension::name).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert_eq!(parse_extensions(&[]).unwrap(), []);
    }

    #[test]
    fn a_bad_line_fails_all_lines() {
        let lines = [
            HeaderValue::from_static("a"),
            HeaderValue::from_static("b;"),
        ];
        assert!(matches!(
            parse_extensions(&lines),
            Err(Error::MalformedExtensions { .. })
        ));
    }

    #[test]
    fn quoted_string_values_are_unquoted_and_unescaped() {
        let list = parse(r#"x; a="10"; b = "t\oken""#).unwrap();
        assert_eq!(
            list[0].param("a").and_then(ExtensionParam::value),
            Some("10")
        );
        assert_eq!(
            list[0].param("b").and_then(ExtensionParam::value),
            Some("token")
        );
        // Written back, the values need no quotes.
        assert_eq!(list[0].to_string(), "x; a=10; b=token");
    }

    #[test]
    fn whitespace_around_separators_is_allowed() {
        let list = parse(" \tx ;a = 1 ;\tb , y ").unwrap();
        assert_eq!(list[0].to_string(), "x; a=1; b");
        assert_eq!(list[1].to_string(), "y");
    }

    #[test]
    fn empty_elements_are_skipped() {
        assert_eq!(parse("").unwrap(), []);
        assert_eq!(parse(" , ,").unwrap(), []);
        let list = parse(",a,,b,").unwrap();
        assert_eq!(format_extensions(&list), "a, b");
    }

    #[test]
    fn bad_input_says_where_and_what() {
        assert_eq!(error_of("a;"), (2, "expected a parameter name after ';'"));
        assert_eq!(
            error_of("a; =1"),
            (3, "expected a parameter name after ';'")
        );
        assert_eq!(
            error_of("a; b="),
            (5, "expected a parameter value after '='")
        );
        assert_eq!(
            error_of("a; b=c=d"),
            (6, "expected ',' or ';' after an extension")
        );
        assert_eq!(
            error_of("a b"),
            (2, "expected ',' or ';' after an extension")
        );
        assert_eq!(error_of(";a"), (0, "expected an extension name"));
        assert_eq!(error_of("\"a\""), (0, "expected an extension name"));
        assert_eq!(
            error_of("a, b@c"),
            (4, "expected ',' or ';' after an extension")
        );
        assert_eq!(error_of(r#"a; b="c"#), (5, "unterminated quoted string"));
        assert_eq!(error_of(r#"a; b="c\"#), (5, "unterminated quoted string"));
        assert_eq!(
            error_of(r#"a; b="""#),
            (5, "quoted parameter value is not a token")
        );
        assert_eq!(
            error_of(r#"a; b="c d""#),
            (5, "quoted parameter value is not a token")
        );
        assert_eq!(
            error_of(r#"a; b="c,d""#),
            (5, "quoted parameter value is not a token")
        );
        assert_eq!(
            error_of(r#"a; b="c"d"#),
            (8, "expected ',' or ';' after an extension")
        );
    }

    #[test]
    fn control_bytes_and_non_ascii_are_rejected() {
        let err = parse_extension_list(b"a; b=\"c\x01\"").unwrap_err();
        assert!(
            matches!(err, Error::MalformedExtensions { position: 7, .. }),
            "{err:?}"
        );
        let err = parse_extension_list("a; b=\"é\"".as_bytes()).unwrap_err();
        assert!(
            matches!(err, Error::MalformedExtensions { position: 5, .. }),
            "{err:?}"
        );
        let err = parse_extension_list(b"a\xff").unwrap_err();
        assert!(
            matches!(err, Error::MalformedExtensions { position: 1, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn writing_round_trips() {
        let list = parse("a; x; y=1, b").unwrap();
        let written = format_extensions(&list);
        assert_eq!(written, "a; x; y=1, b");
        assert_eq!(parse(&written).unwrap(), list);
        assert_eq!(format_extensions(&[]), "");
    }

    #[test]
    fn builder_checks_tokens() {
        assert!(matches!(
            Extension::new(""),
            Err(Error::InvalidToken {
                what: "extension name",
                ..
            })
        ));
        let err = Extension::new("a")
            .unwrap()
            .with_param("b c", None)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidToken {
                what: "extension parameter name",
                ..
            }
        ));
        let err = Extension::new("a")
            .unwrap()
            .with_param("b", Some("\"1\""))
            .unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidToken {
                what: "extension parameter value",
                ..
            }
        ));
    }

    #[test]
    fn closures_are_negotiators() {
        let decline_all = |_: &[Extension]| Vec::new();
        let offers = parse("a").unwrap();
        assert_eq!(decline_all.negotiate(&offers), []);
    }
}
