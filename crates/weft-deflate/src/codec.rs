//! [`PerMessageDeflate`], the codec extension: compresses outgoing messages and inflates
//! incoming ones, within the output budget the connection gives it.

use bytes::{BufMut, BytesMut};
use flate2::{Decompress, FlushDecompress, Status};
use weft_codec::{CloseCode, Extension, ExtensionError, OpCode, Role, Rsv, SharedEncoding};
use zlib_rs::{Deflate, DeflateFlush};

use crate::config::{DeflateConfig, MAX_WINDOW_BITS};
use crate::error::Error;
use crate::negotiate::DeflateParams;

/// The empty stored block a sync flush ends with; removed on send, restored on receive
/// (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// zlib deflates raw streams with 9 to 15 window bits; see [`Encoder::new`] for 8.
const MIN_BACKEND_WINDOW_BITS: u8 = 9;

/// The most output produced per inflate call; the buffer grows towards it as a message
/// proves compressible.
const MAX_STEP: usize = 256 << 10;

/// permessage-deflate as a [`weft_codec::Extension`]: install it on a
/// [`Connection`](weft_codec::Connection) with
/// [`with_extension`](weft_codec::Connection::with_extension).
///
/// It claims RSV1, compresses each outgoing message of at least the configured threshold
/// with raw DEFLATE and a sync flush, removing the final `00 00 ff ff`, and inflates each
/// incoming message flagged with RSV1 as its pieces arrive, restoring those four bytes after
/// the last one. Context is kept between messages or reset, for each direction, as agreed.
///
/// Its compressor and decompressor are allocated on the first compressed message sent or
/// received, not when the connection opens, and only where context is kept; see the
/// [crate documentation](crate#memory) for when they are released and what they cost.
///
/// Inflating stops before appending more than the connection's budget (what remains of
/// `max_message_size`) and reports [`ExtensionError::OutputTooLarge`] (close code 1009);
/// invalid DEFLATE data is [`ExtensionError::InvalidData`] (1007).
///
/// # Example
///
/// ```
/// use bytes::{Buf, BytesMut};
/// use weft_codec::{Connection, Event, Message, Role};
/// use weft_deflate::{DeflateConfig, DeflateParams, PerMessageDeflate};
///
/// let config = DeflateConfig::default();
/// let params = DeflateParams::default();
/// let mut client = Connection::new(Role::Client)
///     .with_extension(Box::new(PerMessageDeflate::new(Role::Client, params, &config)));
/// let mut server = Connection::new(Role::Server)
///     .with_extension(Box::new(PerMessageDeflate::new(Role::Server, params, &config)));
///
/// let text = "hello hello hello hello hello hello hello hello hello hello hello hello";
/// client.send(Message::text(text))?;
/// let mut wire = BytesMut::new();
/// while let Some(out) = client.poll_transmit() {
///     wire.extend_from_slice(out.chunk());
///     let n = out.chunk().len();
///     out.advance(n);
/// }
/// assert!(wire.len() < text.len()); // compressed, header and mask included
/// assert_eq!(wire[0] & 0x40, 0x40); // RSV1
/// server.handle_bytes(&mut wire);
/// assert_eq!(server.poll_event()?, Some(Event::Message(Message::text(text))));
/// # Ok::<(), weft_codec::Error>(())
/// ```
#[derive(Debug)]
pub struct PerMessageDeflate {
    params: DeflateParams,
    role: Role,
    threshold: usize,
    encoder: Encoder,
    decoder: Decoder,
}

impl PerMessageDeflate {
    /// The extension for `role` with the agreed `params`, compressing at `config`'s level and
    /// threshold. Usually built by [`DeflateConfig::client_extension`] or
    /// [`DeflateConfig::server_extension`]; use this when parameters were agreed some other
    /// way.
    ///
    /// ```
    /// use weft_codec::Role;
    /// use weft_deflate::{DeflateConfig, DeflateParams, PerMessageDeflate};
    ///
    /// let deflate = PerMessageDeflate::new(Role::Server, DeflateParams::default(), &DeflateConfig::default());
    /// assert_eq!(deflate.role(), Role::Server);
    /// assert!(!deflate.compressor_allocated());
    /// ```
    pub fn new(role: Role, params: DeflateParams, config: &DeflateConfig) -> Self {
        let peer = if role == Role::Server {
            Role::Client
        } else {
            Role::Server
        };
        Self {
            params,
            role,
            threshold: config.threshold,
            encoder: Encoder::new(
                config,
                params.max_window_bits(role),
                params.no_context_takeover(role),
            ),
            decoder: Decoder::new(
                params.max_window_bits(peer),
                params.no_context_takeover(peer),
            ),
        }
    }

    /// The parameters agreed in the handshake.
    ///
    /// ```
    /// # use weft_codec::Role;
    /// # use weft_deflate::{DeflateConfig, DeflateParams, PerMessageDeflate};
    /// let deflate = PerMessageDeflate::new(Role::Client, DeflateParams::default(), &DeflateConfig::default());
    /// assert_eq!(deflate.params().client_max_window_bits(), 15);
    /// ```
    pub fn params(&self) -> &DeflateParams {
        &self.params
    }

    /// The end this extension runs on.
    ///
    /// ```
    /// # use weft_codec::Role;
    /// # use weft_deflate::{DeflateConfig, DeflateParams, PerMessageDeflate};
    /// let deflate = PerMessageDeflate::new(Role::Client, DeflateParams::default(), &DeflateConfig::default());
    /// assert_eq!(deflate.role(), Role::Client);
    /// ```
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether this connection holds a compressor of its own. With context takeover on our
    /// side: from the first message compressed until the connection falls quiet
    /// ([`Extension::release_idle_memory`](weft_codec::Extension::release_idle_memory)).
    /// Without: only while a message sent in pieces is under way; whole messages use the
    /// thread's.
    ///
    /// ```
    /// use weft_codec::{Extension, OpCode, Role};
    /// use weft_deflate::{DeflateConfig, DeflateParams, PerMessageDeflate};
    ///
    /// let config = DeflateConfig::default().threshold(0);
    /// let mut deflate = PerMessageDeflate::new(Role::Client, DeflateParams::default(), &config);
    /// assert!(!deflate.compressor_allocated());
    /// deflate.encode_begin(OpCode::Text, Some(5));
    /// let mut out = bytes::BytesMut::new();
    /// deflate.encode(b"Hello", true, &mut out)?;
    /// assert_eq!(&out[..], [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    /// assert!(deflate.compressor_allocated());
    /// assert!(!deflate.decompressor_allocated());
    /// # Ok::<(), weft_codec::ExtensionError>(())
    /// ```
    pub fn compressor_allocated(&self) -> bool {
        self.encoder.state.is_some()
    }

    /// Whether this connection holds a decompressor of its own. With the peer's context
    /// takeover: from the first compressed message received with a non-empty payload on.
    /// Without: only while a message received in pieces is under way; whole messages use the
    /// thread's.
    ///
    /// ```
    /// use weft_codec::{Extension, Role};
    /// use weft_deflate::{DeflateConfig, DeflateParams, PerMessageDeflate};
    ///
    /// let config = DeflateConfig::default();
    /// let mut deflate = PerMessageDeflate::new(Role::Client, DeflateParams::default(), &config);
    /// assert!(!deflate.decompressor_allocated());
    /// let mut out = bytes::BytesMut::new();
    /// deflate.decode(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], true, &mut out, 1 << 20)?;
    /// assert_eq!(&out[..], b"Hello");
    /// assert!(deflate.decompressor_allocated());
    /// # Ok::<(), weft_codec::ExtensionError>(())
    /// ```
    pub fn decompressor_allocated(&self) -> bool {
        self.decoder.state.is_some()
    }
}

impl Extension for PerMessageDeflate {
    fn rsv(&self) -> Rsv {
        Rsv::RSV1
    }

    fn encode_begin(&mut self, _opcode: OpCode, size_hint: Option<usize>) -> Rsv {
        match size_hint {
            Some(size) if size < self.threshold => Rsv::NONE,
            _ => Rsv::RSV1,
        }
    }

    fn encode(
        &mut self,
        input: &[u8],
        fin: bool,
        output: &mut BytesMut,
    ) -> Result<(), ExtensionError> {
        self.encoder.encode(input, fin, output).map_err(|err| {
            // The message is not sent. A fresh compressor is always readable by the peer
            // (it refers to nothing before), so the next message starts from one.
            self.encoder.state = None;
            self.encoder.in_message = false;
            ExtensionError::Other {
                code: CloseCode::INTERNAL_ERROR,
                source: Box::new(err),
            }
        })
    }

    /// Without context takeover on our side (`server_no_context_takeover` on a server), the
    /// compressor starts afresh for every message, so a message compresses to the same bytes
    /// on every connection with the same level and window size: a prepared message is
    /// compressed once for all of them. With context takeover, `None`.
    ///
    /// ```
    /// use weft_codec::{Extension, Role};
    /// use weft_deflate::{DeflateConfig, DeflateParams, PerMessageDeflate};
    ///
    /// use weft_handshake::parse_extension_list;
    ///
    /// let config = DeflateConfig::default();
    /// let agreed = parse_extension_list(b"permessage-deflate; server_no_context_takeover")?;
    /// let reset = DeflateParams::from_response(&agreed[0])?;
    /// let a = PerMessageDeflate::new(Role::Server, reset, &config);
    /// let b = PerMessageDeflate::new(Role::Server, reset, &config);
    /// assert!(a.shared_encoding().is_some());
    /// assert_eq!(a.shared_encoding(), b.shared_encoding());
    /// let takeover = PerMessageDeflate::new(Role::Server, DeflateParams::default(), &config);
    /// assert_eq!(takeover.shared_encoding(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn shared_encoding(&self) -> Option<SharedEncoding> {
        let encoder = &self.encoder;
        encoder.reset_each_message.then(|| {
            let (level, window_bits, memory_level) = encoder.settings;
            SharedEncoding::new(
                crate::EXTENSION_NAME,
                u64::from(memory_level) << 16 | u64::from(level) << 8 | u64::from(window_bits),
            )
        })
    }

    /// Compresses with a compressor shared by the thread (one per level, window size and
    /// memory level), so
    /// that a connection that only sends prepared messages never allocates its own.
    fn encode_shared(&mut self, input: &[u8], output: &mut BytesMut) -> Result<(), ExtensionError> {
        self.encoder
            .encode_shared(input, output)
            .map_err(|err| ExtensionError::Other {
                code: CloseCode::INTERNAL_ERROR,
                source: Box::new(err),
            })
    }

    fn decode(
        &mut self,
        input: &[u8],
        fin: bool,
        output: &mut BytesMut,
        max_output: usize,
    ) -> Result<(), ExtensionError> {
        let result = self.decoder.decode(input, fin, output, max_output);
        if result.is_err() {
            // The connection fails; should anything be decoded after this, it starts afresh.
            self.decoder.state = None;
            self.decoder.stream_ended = false;
            self.decoder.message_started = false;
        }
        result
    }

    /// Drops the compressor, unless a message sent in pieces is under way: a fresh one refers
    /// to nothing sent before, which the peer inflates like any message. The decompressor
    /// stays while the peer keeps its context (its next message may refer to the last ones);
    /// without context takeover it is never kept between messages anyway.
    fn release_idle_memory(&mut self) {
        if !self.encoder.in_message {
            self.encoder.state = None;
        }
    }

    /// zlib's bound for any compression parameters (`deflateBound` when the level, window or
    /// memory level are not its defaults): 1/8 + 1/64 of the data plus 5 bytes, and the
    /// sync flush that ends a frame. Incompressible data grows by 5 bytes per 16 KiB block
    /// at zlib's defaults, but by up to 4 % with `memLevel=1` (128-byte blocks), a setting
    /// Node `ws` exposes; the bound covers every peer built on zlib or its ports.
    fn max_encoded_len(&self, len: usize) -> usize {
        len.saturating_add(len.div_ceil(8))
            .saturating_add(len.div_ceil(64))
            .saturating_add(5 + SYNC_FLUSH_MAX)
    }
}

/// The most a sync flush adds: the end of the current block (up to 10 bits of a pending code
/// and the end-of-block code) and an empty stored block (3 header bits, padding, 4 bytes).
const SYNC_FLUSH_MAX: usize = 10;

/// The compressing half: our messages, under our role's parameters.
#[derive(Debug)]
struct Encoder {
    /// Level, window bits (as run) and memory level: what shapes the output.
    settings: CompressorKey,
    reset_each_message: bool,
    /// This connection's own compressor: with context takeover, from the first compressed
    /// message until [`Extension::release_idle_memory`]; without, only while a message sent
    /// in pieces is under way (whole messages use the thread's).
    state: Option<Compressor>,
    /// A message sent in pieces has begun and not ended.
    in_message: bool,
}

impl Encoder {
    fn new(config: &DeflateConfig, window_bits: u8, reset_each_message: bool) -> Self {
        Self {
            settings: (
                // At most 9 (the setter clamps).
                u8::try_from(config.level).unwrap_or(9),
                // zlib cannot deflate a raw stream with an 8-bit window and uses 9 instead.
                // That stays valid for a peer inflating with 8 bits: zlib never refers further
                // back than the window size minus 262 bytes (its MIN_LOOKAHEAD), which is 250
                // bytes at 9 bits, within the 256 an 8-bit window holds.
                window_bits.max(MIN_BACKEND_WINDOW_BITS),
                config.memory_level,
            ),
            reset_each_message,
            state: None,
            in_message: false,
        }
    }

    fn encode(&mut self, input: &[u8], fin: bool, output: &mut BytesMut) -> Result<(), Error> {
        if input.is_empty() {
            // Every piece ends on a sync flush, so the stream is at a byte boundary: an empty
            // last piece is the header byte of an empty stored block whose other four bytes
            // are the tail the receiver restores (RFC 7692 §7.2.3.6). An empty piece before
            // the last adds nothing.
            if fin {
                output.put_u8(0x00);
                self.end_message();
            }
            return Ok(());
        }
        if self.reset_each_message && fin && !self.in_message {
            // A whole message that refers to nothing before it: any compressor of the same
            // settings gives the same bytes, so the thread's serves and ours is never made.
            return self.encode_shared(input, output);
        }
        let key = self.settings;
        let compressor = self.state.get_or_insert_with(|| Compressor::new(key));
        self.in_message = !fin;
        let result = compressor.deflate(input, fin, output);
        if fin {
            self.end_message();
        }
        result
    }

    /// A whole message compressed with a compressor of this encoder's settings kept by the
    /// thread, not with this connection's own: for every message when our compressor starts
    /// afresh for each one anyway, including a prepared message shared by every connection
    /// with these settings. Such connections never allocate a compressor of their own; each
    /// thread holds one per level, window size and memory level in use.
    fn encode_shared(&self, input: &[u8], output: &mut BytesMut) -> Result<(), Error> {
        if input.is_empty() {
            output.put_u8(0x00);
            return Ok(());
        }
        let key = self.settings;
        SHARED_COMPRESSORS.with(|cell| {
            let mut compressors = cell.borrow_mut();
            let at = match compressors.iter().position(|c| c.key == key) {
                Some(at) => at,
                None => {
                    compressors.push(Compressor::new(key));
                    compressors.len() - 1
                }
            };
            let compressor = &mut compressors[at];
            let result = compressor.deflate(input, true, output);
            compressor.deflate.reset();
            result
        })
    }

    fn end_message(&mut self) {
        self.in_message = false;
        if self.reset_each_message {
            // Nothing of this message is referred to again: the next piecewise message
            // allocates afresh, and until then the connection holds nothing.
            self.state = None;
        }
    }
}

/// Level, window bits and memory level: what shapes a compressor's output.
type CompressorKey = (u8, u8, u8);

/// A raw DEFLATE compressor (zlib-rs) with its settings.
struct Compressor {
    key: CompressorKey,
    deflate: Deflate,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (level, window_bits, memory_level) = self.key;
        f.debug_struct("Compressor")
            .field("level", &level)
            .field("window_bits", &window_bits)
            .field("memory_level", &memory_level)
            .finish_non_exhaustive()
    }
}

impl Compressor {
    /// zlib-rs directly rather than through flate2, which fixes the memory level at 8.
    fn new(key: CompressorKey) -> Self {
        let (level, window_bits, memory_level) = key;
        let config = zlib_rs::DeflateConfig {
            level: i32::from(level),
            // Negative: a raw stream, no zlib header.
            window_bits: -i32::from(window_bits),
            mem_level: i32::from(memory_level),
            ..zlib_rs::DeflateConfig::default()
        };
        Self {
            key,
            deflate: Deflate::new_with_config(config),
        }
    }

    /// Compresses `input` (not empty) with a sync flush, appending to `output`; the last
    /// piece of a message (`fin`) has the flush's final `00 00 ff ff` removed.
    fn deflate(&mut self, input: &[u8], fin: bool, output: &mut BytesMut) -> Result<(), Error> {
        let compress = &mut self.deflate;
        let start = output.len();
        let mut consumed = 0;
        // Enough for incompressible input in one call: stored blocks add 5 bytes per 64 KiB,
        // and the flush up to 10 more.
        let mut room = input.len() + input.len() / 64 + 64;
        loop {
            let at = output.len();
            output.resize(at + room, 0);
            let (in_before, out_before) = (compress.total_in(), compress.total_out());
            let result = compress.compress(
                &input[consumed..],
                &mut output[at..],
                DeflateFlush::SyncFlush,
            );
            let produced = progress(compress.total_out(), out_before);
            consumed += progress(compress.total_in(), in_before);
            output.truncate(at + produced);
            result.map_err(|err| Error::Compress(err.as_str().into()))?;
            // The flush is complete once input is used up and output space was left over.
            if consumed == input.len() && produced < room {
                break;
            }
            room = room.saturating_mul(2).clamp(64, MAX_STEP);
        }
        if fin {
            if !output[start..].ends_with(&TAIL) {
                return Err(Error::Compress(
                    "the sync flush did not end with an empty stored block".into(),
                ));
            }
            output.truncate(output.len() - TAIL.len());
        }
        Ok(())
    }
}

thread_local! {
    /// The compressors of [`Encoder::encode_shared`], by their settings.
    static SHARED_COMPRESSORS: std::cell::RefCell<Vec<Compressor>> =
        const { std::cell::RefCell::new(Vec::new()) };

    /// The decompressor that inflates whole messages of peers that keep no context, for
    /// every connection of the thread (a 15-bit window inflates any smaller one).
    static SHARED_DECOMPRESSOR: std::cell::RefCell<Option<Decompress>> =
        const { std::cell::RefCell::new(None) };
}

/// The inflating half: the peer's messages, under the peer's parameters.
#[derive(Debug)]
struct Decoder {
    window_bits: u8,
    reset_each_message: bool,
    /// This connection's own decompressor: with the peer's context takeover, from the first
    /// compressed message on; without, only while a message that arrives in pieces is under
    /// way (one that arrives whole uses the thread's).
    state: Option<Decompress>,
    /// The message's DEFLATE stream ended with a BFINAL block (RFC 7692 §7.2.3.4): the rest of
    /// the message is padding, and the next message starts a new stream.
    stream_ended: bool,
    /// Some of the current message's payload has been fed.
    message_started: bool,
}

impl Decoder {
    fn new(window_bits: u8, reset_each_message: bool) -> Self {
        Self {
            // Inflating with a larger window than the sender's is always correct; flate2
            // takes no less than 9 bits.
            window_bits: window_bits.max(MIN_BACKEND_WINDOW_BITS),
            reset_each_message,
            state: None,
            stream_ended: false,
            message_started: false,
        }
    }

    fn decode(
        &mut self,
        input: &[u8],
        fin: bool,
        output: &mut BytesMut,
        max_output: usize,
    ) -> Result<(), ExtensionError> {
        let mut budget = max_output;
        if self.reset_each_message && fin && !self.message_started && !input.is_empty() {
            return decode_shared(input, output, max_output);
        }
        if !input.is_empty() {
            self.message_started = true;
            self.inflate(input, output, &mut budget, max_output)?;
        }
        if fin {
            // A message whose payload is empty holds no DEFLATE data at all (some encoders
            // send one for an empty message after a flush): it is empty, and the stream is
            // left as it was. Restoring the tail alone would start a stored block whose
            // length is the next message's first bytes.
            if std::mem::take(&mut self.message_started) {
                self.inflate(&TAIL, output, &mut budget, max_output)?;
            }
            self.end_message();
        }
        Ok(())
    }

    /// Inflates all of `input` with this connection's decompressor.
    fn inflate(
        &mut self,
        input: &[u8],
        output: &mut BytesMut,
        budget: &mut usize,
        limit: usize,
    ) -> Result<(), ExtensionError> {
        if self.stream_ended || input.is_empty() {
            return Ok(());
        }
        let window_bits = self.window_bits;
        let decompress = self
            .state
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, window_bits));
        self.stream_ended = inflate(decompress, input, output, budget, limit)?;
        Ok(())
    }

    fn end_message(&mut self) {
        if self.reset_each_message {
            // Without the peer's context nothing is kept between messages.
            self.state = None;
            self.stream_ended = false;
        } else if std::mem::take(&mut self.stream_ended)
            && let Some(decompress) = &mut self.state
        {
            decompress.reset(false);
        }
    }
}

/// A whole message of a peer that keeps no context, inflated with the thread's decompressor.
fn decode_shared(
    input: &[u8],
    output: &mut BytesMut,
    max_output: usize,
) -> Result<(), ExtensionError> {
    SHARED_DECOMPRESSOR.with(|cell| {
        let mut shared = cell.borrow_mut();
        let decompress =
            shared.get_or_insert_with(|| Decompress::new_with_window_bits(false, MAX_WINDOW_BITS));
        let mut budget = max_output;
        let result =
            inflate(decompress, input, output, &mut budget, max_output).and_then(|ended| {
                if ended {
                    // A BFINAL block ended the stream: the rest is padding.
                    return Ok(true);
                }
                inflate(decompress, &TAIL, output, &mut budget, max_output)
            });
        decompress.reset(false);
        result.map(|_| ())
    })
}

/// Inflates all of `input` (not empty), appending at most `budget` bytes (decremented);
/// returns whether the DEFLATE stream ended (a BFINAL block).
fn inflate(
    decompress: &mut Decompress,
    input: &[u8],
    output: &mut BytesMut,
    budget: &mut usize,
    limit: usize,
) -> Result<bool, ExtensionError> {
    let mut consumed = 0;
    // Output space is zeroed before zlib writes to it, so ask for about what the input
    // might inflate to, and double while the output keeps filling it. (Spare capacity
    // is not used as a hint: a grown buffer would be zeroed whole for a one-byte piece.)
    let mut step = input.len().saturating_mul(4).clamp(256, MAX_STEP);
    loop {
        let room = step.min(*budget);
        if room == 0 {
            // The budget is spent: the message is too large if even one more byte comes
            // out. Probing into a one-byte buffer keeps the output at the limit.
            let mut probe = [0u8; 1];
            let (in_before, out_before) = (decompress.total_in(), decompress.total_out());
            let status = decompress
                .decompress(&input[consumed..], &mut probe, FlushDecompress::None)
                .map_err(invalid)?;
            if decompress.total_out() != out_before {
                return Err(ExtensionError::OutputTooLarge { limit });
            }
            let used = progress(decompress.total_in(), in_before);
            consumed += used;
            if status == Status::StreamEnd {
                return Ok(true);
            }
            if consumed == input.len() {
                return Ok(false);
            }
            if used == 0 {
                return Err(stalled());
            }
            continue;
        }
        let at = output.len();
        make_room(output, room, at + *budget);
        output.resize(at + room, 0);
        let (in_before, out_before) = (decompress.total_in(), decompress.total_out());
        let result =
            decompress.decompress(&input[consumed..], &mut output[at..], FlushDecompress::None);
        let produced = progress(decompress.total_out(), out_before);
        let used = progress(decompress.total_in(), in_before);
        output.truncate(at + produced);
        let status = result.map_err(invalid)?;
        consumed += used;
        *budget -= produced;
        if status == Status::StreamEnd {
            return Ok(true);
        }
        // Output space left over means the inflater has nothing more to give for this
        // input; a full buffer may hide more.
        if consumed == input.len() && produced < room {
            return Ok(false);
        }
        if used == 0 && produced == 0 {
            return Err(stalled());
        }
        if produced == room {
            step = step.saturating_mul(2).min(MAX_STEP);
        }
    }
}

/// Makes room for `additional` more bytes in `output`, which may never hold more than
/// `ceiling` (what is left of the message limit, plus what it holds). Buffers grow by
/// doubling, so a message just over half the limit would take a buffer of twice the limit
/// (a 64 MiB limit, 128 MiB); when doubling would pass the ceiling, the buffer grows to the
/// ceiling exactly instead.
fn make_room(output: &mut BytesMut, additional: usize, ceiling: usize) {
    let needed = output.len() + additional;
    if output.capacity() >= needed {
        return;
    }
    let doubled = output.capacity().saturating_mul(2).max(needed);
    if doubled <= ceiling {
        output.reserve(additional);
        return;
    }
    // Through a `Vec` (no copy for a buffer that owns its allocation), whose exact
    // reservation reallocates in place where the allocator can.
    let mut vec = Vec::from(std::mem::take(output));
    vec.reserve_exact(ceiling.max(needed) - vec.len());
    *output = BytesMut::from(bytes::Bytes::from(vec));
}

/// How far a zlib counter moved in one call; bounded by the buffers given to it.
fn progress(after: u64, before: u64) -> usize {
    usize::try_from(after - before).unwrap_or(usize::MAX)
}

fn invalid(err: flate2::DecompressError) -> ExtensionError {
    ExtensionError::InvalidData(Box::new(Error::Decompress(Box::new(err))))
}

fn stalled() -> ExtensionError {
    ExtensionError::InvalidData(Box::new(Error::Decompress(
        "the inflater made no progress".into(),
    )))
}
