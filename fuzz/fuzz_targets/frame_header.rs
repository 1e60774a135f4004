//! Fuzz target: see `weft_harness::fuzz::frame_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_harness::fuzz::frame_header(data));
