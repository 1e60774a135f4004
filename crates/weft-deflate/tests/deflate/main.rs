//! weft-deflate through real framing: RFC 7692 vectors, negotiation tables for both roles,
//! round trips over the whole parameter matrix, and the limits (bombs, invalid data).

mod limits;
mod negotiation;
mod roundtrip;
mod support;
mod vectors;
