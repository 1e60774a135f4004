//! [`Error`], the one error type of this crate.

use std::fmt;

/// Why a permessage-deflate negotiation failed, or why a message could not be transformed.
///
/// Negotiation errors name the parameter at fault. On the client they mean the server's
/// response must fail the connection (RFC 7692 §5); on the server they are the reason an
/// offer was declined ([`DeflateConfig::accept_offer`](crate::DeflateConfig::accept_offer)).
/// Codec errors reach the connection wrapped in a
/// [`weft_codec::ExtensionError`], which carries the close code.
///
/// # Example
///
/// ```
/// use weft_deflate::{DeflateConfig, Error};
/// use weft_handshake::parse_extension_list;
///
/// let response = parse_extension_list(b"permessage-deflate; server_max_window_bits=16")?;
/// let err = DeflateConfig::default().client_extension(&response).unwrap_err();
/// assert!(matches!(err, Error::InvalidValue { name: "server_max_window_bits", .. }));
/// assert_eq!(
///     err.to_string(),
///     "server_max_window_bits=16 is invalid: expected an integer from 8 to 15"
/// );
/// # Ok::<(), weft_handshake::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A parameter that permessage-deflate does not define.
    UnknownParameter {
        /// The parameter's name, as received.
        name: String,
    },
    /// A parameter that appears more than once in one offer or response.
    DuplicateParameter {
        /// The parameter's name.
        name: &'static str,
    },
    /// A parameter with a value it may not have, or without one it needs.
    InvalidValue {
        /// The parameter's name.
        name: &'static str,
        /// The value received; `None` when the parameter came without one.
        value: Option<String>,
        /// What was expected instead.
        expected: &'static str,
    },
    /// The server's response has `client_max_window_bits`, which the client did not offer
    /// (RFC 7692 §7.1.2.2).
    NotOffered {
        /// The parameter's name.
        name: &'static str,
    },
    /// The server's response allows itself a larger window than the client offered
    /// (RFC 7692 §7.1.2.1).
    ExceedsOffer {
        /// The parameter's name.
        name: &'static str,
        /// The value in the response.
        value: u8,
        /// The value in the offer.
        offered: u8,
    },
    /// The server accepted permessage-deflate more than once.
    AcceptedTwice,
    /// The offer does not let the server limit the client's window, and this server is
    /// configured to inflate with a smaller one (declines the offer).
    ClientWindowNotLimitable {
        /// The server's configured `client_max_window_bits`.
        required: u8,
    },
    /// An extension other than `permessage-deflate` was handed to this crate.
    WrongExtension {
        /// The extension's name.
        name: String,
    },
    /// Permessage-deflate is turned off in this configuration, yet a response accepted it.
    Disabled,
    /// The compressor failed (close code 1011). It does not fail on valid input; this
    /// reports a bug rather than a peer's fault.
    Compress(Box<dyn std::error::Error + Send + Sync>),
    /// The received data is not a valid DEFLATE stream (close code 1007).
    Decompress(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownParameter { name } => {
                write!(f, "unknown permessage-deflate parameter {name}")
            }
            Self::DuplicateParameter { name } => write!(f, "{name} appears more than once"),
            Self::InvalidValue {
                name,
                value: Some(value),
                expected,
            } => write!(f, "{name}={value} is invalid: expected {expected}"),
            Self::InvalidValue {
                name,
                value: None,
                expected,
            } => write!(f, "{name} without a value is invalid: expected {expected}"),
            Self::NotOffered { name } => {
                write!(
                    f,
                    "the server's response has {name}, which the client did not offer"
                )
            }
            Self::ExceedsOffer {
                name,
                value,
                offered,
            } => write!(
                f,
                "the server's response has {name}={value}, larger than the {offered} offered"
            ),
            Self::AcceptedTwice => f.write_str("the server accepted permessage-deflate twice"),
            Self::ClientWindowNotLimitable { required } => write!(
                f,
                "the offer has no client_max_window_bits, so the client's window cannot be \
                 limited to the {required} bits this server requires"
            ),
            Self::WrongExtension { name } => {
                write!(f, "{name} is not permessage-deflate")
            }
            Self::Disabled => f.write_str("permessage-deflate is disabled in this configuration"),
            Self::Compress(err) => write!(f, "compression failed: {err}"),
            Self::Decompress(err) => write!(f, "invalid compressed data: {err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Compress(err) | Self::Decompress(err) => Some(&**err),
            _ => None,
        }
    }
}
