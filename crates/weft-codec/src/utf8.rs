//! UTF-8 for text messages (RFC 6455 §8.1): an incremental validator that fails at the first
//! byte that cannot be part of valid UTF-8, even when a code point is split across frames or
//! reads, and [`Utf8Bytes`], shared bytes known to be UTF-8.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// Validates UTF-8 that arrives in pieces.
///
/// [`feed`](Self::feed) accepts a piece that ends inside a code point, as long as what has
/// arrived can still become valid; it fails as soon as a byte makes that impossible (so an
/// invalid text message is refused before its last fragment, as Autobahn 6.4.* expects).
/// [`finish`](Self::finish) checks that the last code point was completed.
///
/// ```
/// use weft_codec::Utf8Validator;
///
/// let mut v = Utf8Validator::new();
/// let euro = "€".as_bytes(); // E2 82 AC
/// v.feed(&euro[..1]).unwrap();
/// v.feed(&euro[1..]).unwrap();
/// v.finish().unwrap();
///
/// // F4 90 can never start a valid sequence (it would be above U+10FFFF): refused at once.
/// let mut v = Utf8Validator::new();
/// assert!(v.feed(&[b'a', 0xF4]).is_ok());
/// assert!(v.feed(&[0x90]).is_err());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Utf8Validator {
    /// The start of a code point whose remaining bytes have not arrived yet.
    partial: [u8; 4],
    partial_len: usize,
}

/// Invalid UTF-8 was found.
///
/// ```
/// let mut text = weft_codec::Utf8Validator::new();
/// assert_eq!(text.feed(&[0xFF]), Err(weft_codec::Utf8Error));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf8Error;

impl fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid UTF-8")
    }
}

impl std::error::Error for Utf8Error {}

impl Utf8Validator {
    /// A validator at the start of a text.
    ///
    /// ```
    /// let mut text = weft_codec::Utf8Validator::new();
    /// assert!(text.feed("plain ASCII".as_bytes()).is_ok());
    /// ```
    pub const fn new() -> Self {
        Self {
            partial: [0; 4],
            partial_len: 0,
        }
    }

    /// Validates the next piece of the text.
    ///
    /// ```
    /// let mut text = weft_codec::Utf8Validator::new();
    /// let euro = "€".as_bytes(); // E2 82 AC
    /// assert!(text.feed(&euro[..1]).is_ok()); // a code point may be split between pieces
    /// assert!(text.feed(&euro[1..]).is_ok());
    /// assert!(text.finish().is_ok());
    /// ```
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), Utf8Error> {
        if self.partial_len > 0 {
            input = self.complete_partial(input)?;
            if self.partial_len > 0 {
                // `input` ran out before the code point was complete.
                return Ok(());
            }
        }
        if input.is_empty() {
            return Ok(());
        }
        let complete = incomplete_suffix_start(input);
        let (body, tail) = input.split_at(complete);
        if !is_utf8(body) {
            return Err(Utf8Error);
        }
        if !tail.is_empty() {
            check_prefix(tail)?;
            self.partial[..tail.len()].copy_from_slice(tail);
            self.partial_len = tail.len();
        }
        Ok(())
    }

    /// Checks that the text did not end inside a code point, and resets for the next text.
    ///
    /// ```
    /// let mut text = weft_codec::Utf8Validator::new();
    /// text.feed(&"€".as_bytes()[..2])?;
    /// assert!(text.finish().is_err()); // the text ended inside a code point
    /// # Ok::<(), weft_codec::Utf8Error>(())
    /// ```
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let incomplete = self.partial_len > 0;
        self.reset();
        if incomplete { Err(Utf8Error) } else { Ok(()) }
    }

    /// Forgets any partial code point.
    ///
    /// ```
    /// let mut text = weft_codec::Utf8Validator::new();
    /// text.feed(&[0xE2])?; // the start of a code point
    /// text.reset(); // the message was abandoned: start over
    /// assert!(text.feed(b"a").is_ok());
    /// # Ok::<(), weft_codec::Utf8Error>(())
    /// ```
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }

    /// Appends bytes from `input` to the pending code point; returns the rest of `input`.
    fn complete_partial<'a>(&mut self, input: &'a [u8]) -> Result<&'a [u8], Utf8Error> {
        let have = self.partial_len;
        let need = sequence_len(self.partial[0]);
        let take = (need - have).min(input.len());
        self.partial[have..have + take].copy_from_slice(&input[..take]);
        let now = have + take;
        if now < need {
            check_prefix(&self.partial[..now])?;
            self.partial_len = now;
        } else {
            std::str::from_utf8(&self.partial[..now]).map_err(|_| Utf8Error)?;
            self.partial_len = 0;
        }
        Ok(&input[take..])
    }
}

/// The length of the sequence a lead byte announces (1 for bytes that are not lead bytes of a
/// multi-byte sequence; those are judged by the full validator).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// Where an unfinished multi-byte sequence at the end of `input` starts, or `input.len()`.
fn incomplete_suffix_start(input: &[u8]) -> usize {
    let len = input.len();
    for back in 1..=len.min(3) {
        let byte = input[len - back];
        if byte & 0xC0 == 0x80 {
            continue; // a continuation byte: keep looking for its lead
        }
        return if sequence_len(byte) > back {
            len - back
        } else {
            len
        };
    }
    len
}

/// Fails unless `prefix` (1–3 bytes) can be continued into a valid code point.
fn check_prefix(prefix: &[u8]) -> Result<(), Utf8Error> {
    match std::str::from_utf8(prefix) {
        // The standard library reports an unfinished but so-far valid sequence as an error
        // without an `error_len`.
        Err(err) if err.error_len().is_none() => Ok(()),
        _ => Err(Utf8Error),
    }
}

/// Shared, immutable bytes that are valid UTF-8: the payload of a text message.
///
/// Cloning is cheap (a reference count), so one text can be sent to many connections without
/// copying.
///
/// ```
/// use weft_codec::Utf8Bytes;
/// let text = Utf8Bytes::from_static("héllo");
/// assert_eq!(text.as_str(), "héllo");
/// assert_eq!(text.len(), 6);
/// assert!(Utf8Bytes::try_from(bytes::Bytes::from_static(&[0xFF])).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Wraps a static string without copying.
    ///
    /// ```
    /// const READY: weft_codec::Utf8Bytes = weft_codec::Utf8Bytes::from_static("ready");
    /// assert_eq!(READY, "ready");
    /// ```
    pub const fn from_static(text: &'static str) -> Self {
        Self(Bytes::from_static(text.as_bytes()))
    }

    /// Wraps bytes that the caller has already validated as UTF-8.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Self(bytes)
    }

    /// The text.
    ///
    /// ```
    /// let text = weft_codec::Utf8Bytes::from("hello");
    /// assert_eq!(text.as_str().to_uppercase(), "HELLO");
    /// ```
    pub fn as_str(&self) -> &str {
        // The invariant of this type makes the fallback unreachable; validating keeps the crate
        // free of `unsafe` and costs a SIMD pass over the text.
        simdutf8::basic::from_utf8(&self.0).unwrap_or_default()
    }

    /// The text as bytes.
    ///
    /// ```
    /// assert_eq!(weft_codec::Utf8Bytes::from("hi").as_bytes(), b"hi");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The underlying shared bytes.
    ///
    /// ```
    /// let bytes: bytes::Bytes = weft_codec::Utf8Bytes::from("hi").into_bytes();
    /// assert_eq!(&bytes[..], b"hi");
    /// ```
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Self(Bytes::from(text))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Self {
        Self(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<&String> for Utf8Bytes {
    fn from(text: &String) -> Self {
        Self::from(text.as_str())
    }
}

/// Whether `bytes` is UTF-8 as a whole, with the SIMD check [`Utf8Validator`] uses for its
/// pieces.
pub(crate) fn is_utf8(bytes: &[u8]) -> bool {
    simdutf8::basic::from_utf8(bytes).is_ok()
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.0
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = Utf8Error;
    fn try_from(bytes: Bytes) -> Result<Self, Utf8Error> {
        if is_utf8(&bytes) {
            Ok(Self(bytes))
        } else {
            Err(Utf8Error)
        }
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = Utf8Error;
    fn try_from(bytes: Vec<u8>) -> Result<Self, Utf8Error> {
        Self::try_from(Bytes::from(bytes))
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    //! RFC 6455 §8.1: text frames must carry UTF-8; the receiver fails fast.
    use super::*;
    use proptest::prelude::*;

    fn validate_in_pieces(bytes: &[u8], piece: usize) -> Result<(), Utf8Error> {
        let mut v = Utf8Validator::new();
        for chunk in bytes.chunks(piece.max(1)) {
            v.feed(chunk)?;
        }
        v.finish()
    }

    #[test]
    fn valid_text_passes_at_every_split() {
        let text = "Hello-µ@ßöäüàá-UTF-8!! κόσμε 𝄞 €".as_bytes();
        for piece in 1..=text.len() {
            assert_eq!(validate_in_pieces(text, piece), Ok(()), "pieces of {piece}");
        }
    }

    #[test]
    fn autobahn_6_invalid_sequences_fail() {
        let cases: &[&[u8]] = &[
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
            b"\xff",
            b"\xfe",
            b"\xc0\xaf",         // overlong '/'
            b"\xe0\x80\xaf",     // overlong
            b"\xf0\x80\x80\xaf", // overlong
            b"\xed\xa0\x80",     // surrogate U+D800
            b"\xed\xbf\xbf",     // surrogate U+DFFF
            b"\xf4\x90\x80\x80", // above U+10FFFF
            b"\x80",             // lone continuation
            b"\xc2",             // truncated at the end
            b"\xe2\x82",         // truncated at the end
            b"\xf0\x9d\x84",     // truncated at the end
            b"\xc2\x41",         // lead followed by ASCII
        ];
        for bytes in cases {
            for piece in 1..=bytes.len() {
                assert_eq!(
                    validate_in_pieces(bytes, piece),
                    Err(Utf8Error),
                    "{bytes:x?} / {piece}"
                );
            }
        }
    }

    #[test]
    fn fails_at_the_first_impossible_byte() {
        // Autobahn 6.4.1: the second fragment makes the text invalid; the third never matters.
        let mut v = Utf8Validator::new();
        v.feed("κόσμε".as_bytes()).unwrap();
        assert_eq!(v.feed(b"\xf4\x90\x80\x80"), Err(Utf8Error));

        // Autobahn 6.4.2: the invalid byte arrives alone, after a valid lead byte.
        let mut v = Utf8Validator::new();
        v.feed(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4")
            .unwrap();
        assert_eq!(v.feed(b"\x90"), Err(Utf8Error));

        // A lead byte that can never start a sequence fails on its own.
        assert_eq!(Utf8Validator::new().feed(b"ab\xf8"), Err(Utf8Error));
        assert_eq!(Utf8Validator::new().feed(b"ab\xc0"), Err(Utf8Error));
    }

    #[test]
    fn finish_resets_for_the_next_text() {
        let mut v = Utf8Validator::new();
        v.feed(b"\xe2\x82").unwrap();
        assert_eq!(v.finish(), Err(Utf8Error));
        v.feed(b"ok").unwrap();
        assert_eq!(v.finish(), Ok(()));
    }

    #[test]
    fn utf8_bytes_conversions() {
        let owned = Utf8Bytes::from(String::from("abc"));
        assert_eq!(owned, "abc");
        assert_eq!(&*owned, "abc");
        assert_eq!(Bytes::from(owned.clone()), Bytes::from_static(b"abc"));
        assert_eq!(format!("{owned:?}"), "\"abc\"");
        assert!(Utf8Bytes::try_from(vec![0xed, 0xa0, 0x80]).is_err());
    }

    proptest! {
        #[test]
        fn agrees_with_std_at_any_split(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            piece in 1usize..9,
        ) {
            let expected = std::str::from_utf8(&bytes).is_ok();
            prop_assert_eq!(validate_in_pieces(&bytes, piece).is_ok(), expected);
        }

        #[test]
        fn agrees_with_std_on_mostly_valid_text(
            text in "\\PC{0,40}",
            flip in any::<(usize, u8)>(),
            piece in 1usize..7,
        ) {
            let mut bytes = text.into_bytes();
            if !bytes.is_empty() {
                let i = flip.0 % bytes.len();
                bytes[i] = flip.1;
            }
            let expected = std::str::from_utf8(&bytes).is_ok();
            prop_assert_eq!(validate_in_pieces(&bytes, piece).is_ok(), expected);
        }

        #[test]
        fn an_error_is_reported_no_later_than_the_first_invalid_prefix(
            bytes in proptest::collection::vec(any::<u8>(), 1..32),
        ) {
            // The first prefix that std says can never become valid must make `feed` fail on
            // the piece that completes that prefix.
            let bad_at = (1..=bytes.len()).find(|&n| {
                matches!(std::str::from_utf8(&bytes[..n]), Err(e) if e.error_len().is_some())
            });
            let mut v = Utf8Validator::new();
            let mut failed_at = None;
            for (i, b) in bytes.iter().enumerate() {
                if v.feed(std::slice::from_ref(b)).is_err() {
                    failed_at = Some(i + 1);
                    break;
                }
            }
            prop_assert_eq!(failed_at, bad_at);
        }
    }
}
