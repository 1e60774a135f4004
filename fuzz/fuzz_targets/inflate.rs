//! Fuzz target: see `weft_harness::fuzz::inflate`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_harness::fuzz::inflate(data));
