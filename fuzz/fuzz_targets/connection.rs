//! Fuzz target: see `weft_harness::fuzz::connection`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_harness::fuzz::connection(data));
