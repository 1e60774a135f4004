//! weft-deflate through real framing: RFC 7692 vectors, negotiation tables for both roles,
//! round trips over the whole parameter matrix, the limits (bombs, invalid data), and prepared
//! messages (compressed once or per connection).

mod limits;
mod message_limit;
mod negotiation;
mod prepared;
mod roundtrip;
mod support;
mod vectors;
