//! Replays every saved fuzz input (`testdata/fuzz/<target>/*`) through the fuzz target's body
//! (`weft_harness::fuzz`): seeds that exercise each target, and every crash the fuzzers ever
//! found, kept as regression tests.

use std::fs;

type Body = fn(&[u8]);

const TARGETS: &[(&str, Body)] = &[
    ("frame_header", weft_harness::fuzz::frame_header),
    ("connection", weft_harness::fuzz::connection),
    ("handshake_request", weft_harness::fuzz::handshake_request),
    ("handshake_response", weft_harness::fuzz::handshake_response),
    ("extensions_header", weft_harness::fuzz::extensions_header),
    ("inflate", weft_harness::fuzz::inflate),
];

#[test]
fn saved_fuzz_inputs_still_pass() {
    let root = weft_tests::testdata_dir().join("fuzz");
    let mut replayed = 0;
    for (target, body) in TARGETS {
        let dir = root.join(target);
        let entries = fs::read_dir(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let input = fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| body(&input));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
            replayed += 1;
        }
    }
    assert!(replayed >= TARGETS.len(), "every target has saved inputs");
}
