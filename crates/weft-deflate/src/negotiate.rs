//! Negotiation (RFC 7692 §5 and §7.1): the client's offers and its check of the response,
//! the server's choice among offers, and [`DeflateParams`], what both ends agreed.

use weft_codec::Role;
use weft_handshake::{Extension, ExtensionNegotiator};

use crate::codec::PerMessageDeflate;
use crate::config::{DeflateConfig, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
use crate::error::Error;

/// The extension token, `permessage-deflate`.
///
/// ```
/// assert_eq!(weft_deflate::EXTENSION_NAME, "permessage-deflate");
/// ```
pub const EXTENSION_NAME: &str = "permessage-deflate";

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

const BITS_EXPECTED: &str = "an integer from 8 to 15";

/// What both ends agreed to in the handshake: the four parameters of RFC 7692 §7.1, with
/// absent window sizes as 15 bits.
///
/// Get one from a response with [`DeflateParams::from_response`] (or, usually, let
/// [`DeflateConfig::client_extension`] or [`DeflateConfig::server_extension`] do it) and
/// read it back from [`PerMessageDeflate::params`].
///
/// # Example
///
/// ```
/// use weft_deflate::DeflateParams;
/// use weft_handshake::parse_extension_list;
///
/// let response = parse_extension_list(b"permessage-deflate; server_max_window_bits=10")?;
/// let params = DeflateParams::from_response(&response[0])?;
/// assert_eq!(params.server_max_window_bits(), 10);
/// assert_eq!(params.client_max_window_bits(), 15);
/// assert!(!params.server_no_context_takeover());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    pub(crate) server_no_context_takeover: bool,
    pub(crate) client_no_context_takeover: bool,
    pub(crate) server_max_window_bits: u8,
    pub(crate) client_max_window_bits: u8,
}

impl Default for DeflateParams {
    /// A plain `permessage-deflate`: context takeover both ways, 15-bit windows.
    ///
    /// ```
    /// let params = weft_deflate::DeflateParams::default();
    /// assert_eq!(params.server_max_window_bits(), 15);
    /// ```
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

impl DeflateParams {
    /// Reads a server's response (a `permessage-deflate` extension with its parameters),
    /// checking each parameter's syntax: no unknown or repeated parameters, window sizes from
    /// 8 to 15 written without leading zeros, and no values on the flags.
    ///
    /// This does not check the response against an offer; [`DeflateConfig::client_extension`]
    /// does both.
    ///
    /// ```
    /// use weft_deflate::{DeflateParams, Error};
    /// use weft_handshake::parse_extension_list;
    ///
    /// let bad = parse_extension_list(b"permessage-deflate; client_max_window_bits")?;
    /// assert!(matches!(
    ///     DeflateParams::from_response(&bad[0]),
    ///     Err(Error::InvalidValue { name: "client_max_window_bits", value: None, .. })
    /// ));
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    pub fn from_response(response: &Extension) -> Result<Self, Error> {
        if response.name() != EXTENSION_NAME {
            return Err(Error::WrongExtension {
                name: response.name().to_owned(),
            });
        }
        let parsed = Parsed::read(response, Side::Response)?;
        Ok(Self {
            server_no_context_takeover: parsed.server_no_context_takeover,
            client_no_context_takeover: parsed.client_no_context_takeover,
            server_max_window_bits: parsed.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS),
            client_max_window_bits: parsed
                .client_max_window_bits
                .flatten()
                .unwrap_or(MAX_WINDOW_BITS),
        })
    }

    /// Checks that `response` is a valid answer to the client's `offer` and returns what
    /// they agree to, from the client's point of view.
    ///
    /// On top of [`from_response`](Self::from_response)'s checks, the response may not have
    /// `client_max_window_bits` unless the offer did, nor a `server_max_window_bits` larger
    /// than the offer's. The server may add the other parameters on its own (RFC 7692
    /// §7.1). What the offer announced binds the client too: a `client_no_context_takeover`
    /// or `client_max_window_bits=N` offered holds whatever the response says.
    ///
    /// [`DeflateConfig::client_extension`] calls this for each of its offers.
    ///
    /// ```
    /// use weft_deflate::{DeflateParams, Error};
    /// use weft_handshake::parse_extension_list;
    ///
    /// let offer = &parse_extension_list(b"permessage-deflate; client_max_window_bits=10")?[0];
    /// let response = &parse_extension_list(b"permessage-deflate; client_max_window_bits=12")?[0];
    /// assert_eq!(DeflateParams::from_response_to(offer, response)?.client_max_window_bits(), 10);
    ///
    /// let plain = &parse_extension_list(b"permessage-deflate")?[0];
    /// assert!(matches!(
    ///     DeflateParams::from_response_to(plain, response),
    ///     Err(Error::NotOffered { name: "client_max_window_bits" })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_response_to(offer: &Extension, response: &Extension) -> Result<Self, Error> {
        let answered = Self::from_response(response)?;
        let answer = Parsed::read(response, Side::Response)?;
        if offer.name() != EXTENSION_NAME {
            return Err(Error::WrongExtension {
                name: offer.name().to_owned(),
            });
        }
        let offer = Parsed::read(offer, Side::Offer)?;
        if let Some(value) = answer.server_max_window_bits
            && let Some(offered) = offer.server_max_window_bits
            && value > offered
        {
            return Err(Error::ExceedsOffer {
                name: SERVER_MAX_WINDOW_BITS,
                value,
                offered,
            });
        }
        let Some(offered_client_bits) = offer.client_max_window_bits else {
            if answer.client_max_window_bits.is_some() {
                return Err(Error::NotOffered {
                    name: CLIENT_MAX_WINDOW_BITS,
                });
            }
            return Ok(Self {
                client_no_context_takeover: answered.client_no_context_takeover
                    || offer.client_no_context_takeover,
                ..answered
            });
        };
        Ok(Self {
            client_no_context_takeover: answered.client_no_context_takeover
                || offer.client_no_context_takeover,
            client_max_window_bits: answered
                .client_max_window_bits
                .min(offered_client_bits.unwrap_or(MAX_WINDOW_BITS)),
            ..answered
        })
    }

    /// Whether the server resets its compressor after every message.
    ///
    /// ```
    /// assert!(!weft_deflate::DeflateParams::default().server_no_context_takeover());
    /// ```
    pub fn server_no_context_takeover(&self) -> bool {
        self.server_no_context_takeover
    }

    /// Whether the client resets its compressor after every message.
    ///
    /// ```
    /// assert!(!weft_deflate::DeflateParams::default().client_no_context_takeover());
    /// ```
    pub fn client_no_context_takeover(&self) -> bool {
        self.client_no_context_takeover
    }

    /// The server's largest window, in bits (8..=15).
    ///
    /// ```
    /// assert_eq!(weft_deflate::DeflateParams::default().server_max_window_bits(), 15);
    /// ```
    pub fn server_max_window_bits(&self) -> u8 {
        self.server_max_window_bits
    }

    /// The client's largest window, in bits (8..=15).
    ///
    /// ```
    /// assert_eq!(weft_deflate::DeflateParams::default().client_max_window_bits(), 15);
    /// ```
    pub fn client_max_window_bits(&self) -> u8 {
        self.client_max_window_bits
    }

    /// Whether `role` resets its compressor after every message (and its peer's decompressor
    /// may).
    pub(crate) fn no_context_takeover(&self, role: Role) -> bool {
        if role == Role::Server {
            self.server_no_context_takeover
        } else {
            self.client_no_context_takeover
        }
    }

    /// The largest window `role` compresses with.
    pub(crate) fn max_window_bits(&self, role: Role) -> u8 {
        if role == Role::Server {
            self.server_max_window_bits
        } else {
            self.client_max_window_bits
        }
    }
}

/// Whether parameters come from an offer (where `client_max_window_bits` may be bare) or a
/// response (where every window size has a value).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Offer,
    Response,
}

/// The parameters of one offer or response, as written.
#[derive(Debug, Default)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (offers only).
    client_max_window_bits: Option<Option<u8>>,
}

impl Parsed {
    fn read(extension: &Extension, side: Side) -> Result<Self, Error> {
        let mut parsed = Parsed::default();
        let mut seen = [false; 4];
        for param in extension.params() {
            let (index, name) = match param.name() {
                SERVER_NO_CONTEXT_TAKEOVER => (0, SERVER_NO_CONTEXT_TAKEOVER),
                CLIENT_NO_CONTEXT_TAKEOVER => (1, CLIENT_NO_CONTEXT_TAKEOVER),
                SERVER_MAX_WINDOW_BITS => (2, SERVER_MAX_WINDOW_BITS),
                CLIENT_MAX_WINDOW_BITS => (3, CLIENT_MAX_WINDOW_BITS),
                other => {
                    return Err(Error::UnknownParameter {
                        name: other.to_owned(),
                    });
                }
            };
            if std::mem::replace(&mut seen[index], true) {
                return Err(Error::DuplicateParameter { name });
            }
            let value = param.value();
            match index {
                0 | 1 => {
                    if let Some(value) = value {
                        return Err(Error::InvalidValue {
                            name,
                            value: Some(value.to_owned()),
                            expected: "no value",
                        });
                    }
                    if index == 0 {
                        parsed.server_no_context_takeover = true;
                    } else {
                        parsed.client_no_context_takeover = true;
                    }
                }
                2 => parsed.server_max_window_bits = Some(window_bits(name, value)?),
                _ => {
                    parsed.client_max_window_bits = Some(match (value, side) {
                        (None, Side::Offer) => None,
                        _ => Some(window_bits(name, value)?),
                    });
                }
            }
        }
        Ok(parsed)
    }
}

/// A window size: 1*DIGIT without leading zeros, from 8 to 15 (RFC 7692 §7.1.2).
fn window_bits(name: &'static str, value: Option<&str>) -> Result<u8, Error> {
    let invalid = || Error::InvalidValue {
        name,
        value: value.map(str::to_owned),
        expected: BITS_EXPECTED,
    };
    let value = value.ok_or_else(invalid)?;
    if value.starts_with('0') || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match value.parse::<u8>() {
        Ok(bits @ MIN_WINDOW_BITS..=MAX_WINDOW_BITS) => Ok(bits),
        _ => Err(invalid()),
    }
}

/// Builds an extension from parameters this crate writes itself, which are always tokens.
fn extension(params: &[(&str, Option<String>)]) -> Extension {
    params.iter().fold(
        Extension::new(EXTENSION_NAME).expect("the extension name is a token"),
        |ext, (name, value)| {
            ext.with_param(name, value.as_deref())
                .expect("permessage-deflate parameters and window sizes are tokens")
        },
    )
}

// -------------------------------------------------------------------------------------------
// Client

impl DeflateConfig {
    /// The offers a client sends, most preferred first; empty when disabled.
    ///
    /// The first offer carries the configured parameters: `client_max_window_bits` (bare at
    /// 15, so the server may pick a smaller window for us, else with our value),
    /// `server_max_window_bits` below 15, and the two no-context-takeover flags when set.
    /// When it asks the server for something (`server_*`) and
    /// [`fallback_offer`](Self::fallback_offer) is on, a plain `permessage-deflate` follows.
    ///
    /// Pass each to [`weft_handshake::ClientBuilder::extension`], in order.
    ///
    /// ```
    /// use weft_deflate::DeflateConfig;
    /// use weft_handshake::format_extensions;
    ///
    /// let offers = DeflateConfig::default().client_offers();
    /// assert_eq!(format_extensions(&offers), "permessage-deflate; client_max_window_bits");
    ///
    /// let offers = DeflateConfig::default()
    ///     .server_max_window_bits(10)
    ///     .client_no_context_takeover(true)
    ///     .client_offers();
    /// assert_eq!(
    ///     format_extensions(&offers),
    ///     "permessage-deflate; client_no_context_takeover; server_max_window_bits=10; \
    ///      client_max_window_bits, permessage-deflate"
    /// );
    /// ```
    pub fn client_offers(&self) -> Vec<Extension> {
        if !self.enabled {
            return Vec::new();
        }
        let mut params = Vec::new();
        if self.server_no_context_takeover {
            params.push((SERVER_NO_CONTEXT_TAKEOVER, None));
        }
        if self.client_no_context_takeover {
            params.push((CLIENT_NO_CONTEXT_TAKEOVER, None));
        }
        if self.server_max_window_bits < MAX_WINDOW_BITS {
            params.push((
                SERVER_MAX_WINDOW_BITS,
                Some(self.server_max_window_bits.to_string()),
            ));
        }
        let client_bits = (self.client_max_window_bits < MAX_WINDOW_BITS)
            .then(|| self.client_max_window_bits.to_string());
        params.push((CLIENT_MAX_WINDOW_BITS, client_bits));
        let mut offers = vec![extension(&params)];
        let asks_server =
            self.server_no_context_takeover || self.server_max_window_bits < MAX_WINDOW_BITS;
        if asks_server && self.fallback_offer {
            offers.push(extension(&[]));
        }
        offers
    }

    /// Checks the server's answer to [`client_offers`](Self::client_offers) and builds the
    /// codec extension for the client's [`Connection`](weft_codec::Connection).
    ///
    /// `agreed` is the list of extensions the server accepted
    /// ([`weft_handshake::Negotiated::extensions`]). `Ok(None)`: the server declined
    /// compression. An error means the response is invalid and the client must fail the
    /// connection (RFC 7692 §5): an unknown, repeated or malformed parameter, a
    /// `client_max_window_bits` the client did not offer, a `server_max_window_bits` larger
    /// than offered, or permessage-deflate accepted twice.
    ///
    /// The response must be a valid answer to one of the offers. A server may add
    /// `server_no_context_takeover`, `client_no_context_takeover` and `server_max_window_bits`
    /// on its own (RFC 7692 §7.1); the client then decodes accordingly. A
    /// `client_max_window_bits` larger than the value the client offered is allowed, and the
    /// client keeps to its own value.
    ///
    /// ```
    /// use weft_codec::{Connection, Role};
    /// use weft_deflate::{DeflateConfig, Error};
    /// use weft_handshake::parse_extension_list;
    ///
    /// let config = DeflateConfig::default();
    /// let agreed = parse_extension_list(
    ///     b"permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
    /// )?;
    /// let deflate = config.client_extension(&agreed)?.expect("the server agreed");
    /// assert_eq!(deflate.params().client_max_window_bits(), 10);
    /// let connection = Connection::new(Role::Client).with_extension(Box::new(deflate));
    /// # let _ = connection;
    ///
    /// // The server may not take a larger window than the client asked it to use.
    /// let strict = DeflateConfig::default().server_max_window_bits(9).fallback_offer(false);
    /// let too_big = parse_extension_list(b"permessage-deflate; server_max_window_bits=12")?;
    /// assert!(matches!(
    ///     strict.client_extension(&too_big),
    ///     Err(Error::ExceedsOffer { name: "server_max_window_bits", value: 12, offered: 9 })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn client_extension(
        &self,
        agreed: &[Extension],
    ) -> Result<Option<PerMessageDeflate>, Error> {
        let Some(response) = only_deflate(agreed)? else {
            return Ok(None);
        };
        if !self.enabled {
            return Err(Error::Disabled);
        }
        let mut first_error = None;
        for offer in self.client_offers() {
            match DeflateParams::from_response_to(&offer, response) {
                Ok(params) => {
                    return Ok(Some(PerMessageDeflate::new(Role::Client, params, self)));
                }
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        Err(first_error.unwrap_or(Error::Disabled))
    }
}

/// The one `permessage-deflate` in an agreed list, if any.
fn only_deflate(agreed: &[Extension]) -> Result<Option<&Extension>, Error> {
    let mut found = agreed.iter().filter(|ext| ext.name() == EXTENSION_NAME);
    let first = found.next();
    if found.next().is_some() {
        return Err(Error::AcceptedTwice);
    }
    Ok(first)
}

// -------------------------------------------------------------------------------------------
// Server

impl DeflateConfig {
    /// The server's answer to one `permessage-deflate` offer, or why it declines it.
    ///
    /// Declined: a malformed offer (unknown or repeated parameters, bad values), or one
    /// without `client_max_window_bits` when this server limits the client's window. Every
    /// window size from 8 to 15 can be honoured. The answer applies the server's own
    /// preferences on top of the offer:
    ///
    /// - `server_no_context_takeover` when offered or configured;
    /// - `client_no_context_takeover` when offered (the client announced it) or configured;
    /// - `server_max_window_bits`, the smaller of the offer's and ours, when either is
    ///   below 15;
    /// - `client_max_window_bits`, the smaller of the offer's value (if any) and ours, when
    ///   the client offered the parameter and that is below 15.
    ///
    /// [`negotiate`](ExtensionNegotiator::negotiate) calls this for each offer in order and
    /// agrees to the first it can honour.
    ///
    /// ```
    /// use weft_deflate::{DeflateConfig, Error};
    /// use weft_handshake::parse_extension_list;
    ///
    /// let config = DeflateConfig::default().server_max_window_bits(12);
    /// let offers = parse_extension_list(
    ///     b"permessage-deflate; server_max_window_bits=10; client_max_window_bits",
    /// )?;
    /// assert_eq!(
    ///     config.accept_offer(&offers[0])?.to_string(),
    ///     "permessage-deflate; server_max_window_bits=10"
    /// );
    ///
    /// let unknown = parse_extension_list(b"permessage-deflate; mux")?;
    /// assert!(matches!(config.accept_offer(&unknown[0]), Err(Error::UnknownParameter { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn accept_offer(&self, offer: &Extension) -> Result<Extension, Error> {
        if offer.name() != EXTENSION_NAME {
            return Err(Error::WrongExtension {
                name: offer.name().to_owned(),
            });
        }
        if !self.enabled {
            return Err(Error::Disabled);
        }
        let offer = Parsed::read(offer, Side::Offer)?;
        let client_bits = match offer.client_max_window_bits {
            None if self.client_max_window_bits < MAX_WINDOW_BITS => {
                return Err(Error::ClientWindowNotLimitable {
                    required: self.client_max_window_bits,
                });
            }
            None => None,
            Some(value) => {
                // A client that did not itself offer 8 is never asked for an 8-bit window:
                // zlib cannot compress raw deflate with one, so zlib-based clients (Python's
                // websockets among them) refuse such an answer. A 9-bit zlib compressor never
                // reaches back more than 250 bytes, which an 8-bit window still holds.
                let ours = if value == Some(MIN_WINDOW_BITS) {
                    self.client_max_window_bits
                } else {
                    self.client_max_window_bits.max(MIN_WINDOW_BITS + 1)
                };
                let bits = value.unwrap_or(MAX_WINDOW_BITS).min(ours);
                (bits < MAX_WINDOW_BITS).then_some(bits)
            }
        };
        let server_bits = offer
            .server_max_window_bits
            .unwrap_or(MAX_WINDOW_BITS)
            .min(self.server_max_window_bits);
        // An offer that names server_max_window_bits is only accepted by answering with it.
        let server_bits = (offer.server_max_window_bits.is_some() || server_bits < MAX_WINDOW_BITS)
            .then_some(server_bits);

        let mut params = Vec::new();
        if offer.server_no_context_takeover || self.server_no_context_takeover {
            params.push((SERVER_NO_CONTEXT_TAKEOVER, None));
        }
        if offer.client_no_context_takeover || self.client_no_context_takeover {
            params.push((CLIENT_NO_CONTEXT_TAKEOVER, None));
        }
        if let Some(bits) = server_bits {
            params.push((SERVER_MAX_WINDOW_BITS, Some(bits.to_string())));
        }
        if let Some(bits) = client_bits {
            params.push((CLIENT_MAX_WINDOW_BITS, Some(bits.to_string())));
        }
        Ok(extension(&params))
    }

    /// Builds the codec extension for the server's [`Connection`](weft_codec::Connection)
    /// from what the server agreed to ([`weft_handshake::Negotiated::extensions`] of the
    /// [`weft_handshake::Accept`]). `Ok(None)`: no permessage-deflate was agreed.
    ///
    /// ```
    /// use weft_codec::{Connection, Role};
    /// use weft_deflate::DeflateConfig;
    /// use weft_handshake::{ExtensionNegotiator, parse_extension_list};
    ///
    /// let config = DeflateConfig::default().server_no_context_takeover(true);
    /// let offers = parse_extension_list(b"permessage-deflate; client_max_window_bits")?;
    /// let agreed = config.negotiate(&offers);
    /// let deflate = config.server_extension(&agreed)?.expect("agreed");
    /// assert!(deflate.params().server_no_context_takeover());
    /// let connection = Connection::new(Role::Server).with_extension(Box::new(deflate));
    /// # let _ = connection;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn server_extension(
        &self,
        agreed: &[Extension],
    ) -> Result<Option<PerMessageDeflate>, Error> {
        let Some(response) = only_deflate(agreed)? else {
            return Ok(None);
        };
        let params = DeflateParams::from_response(response)?;
        Ok(Some(PerMessageDeflate::new(Role::Server, params, self)))
    }
}

impl ExtensionNegotiator for DeflateConfig {
    /// Agrees to the first `permessage-deflate` offer [`accept_offer`](DeflateConfig::accept_offer)
    /// can honour; declines everything when disabled or when none can be.
    ///
    /// ```
    /// use weft_deflate::DeflateConfig;
    /// use weft_handshake::{ExtensionNegotiator, format_extensions, parse_extension_list};
    ///
    /// let offers = parse_extension_list(
    ///     b"permessage-deflate; server_max_window_bits=7, permessage-deflate",
    /// )?;
    /// let agreed = DeflateConfig::default().negotiate(&offers);
    /// assert_eq!(format_extensions(&agreed), "permessage-deflate");
    /// # Ok::<(), weft_handshake::Error>(())
    /// ```
    fn negotiate(&self, offers: &[Extension]) -> Vec<Extension> {
        offers
            .iter()
            .filter(|offer| offer.name() == EXTENSION_NAME)
            .find_map(|offer| self.accept_offer(offer).ok())
            .into_iter()
            .collect()
    }
}
