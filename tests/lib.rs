//! weft's scenario tests live in this package's test targets (see `Cargo.toml`); the shared
//! test machinery is the `weft-harness` crate. This library only locates the workspace's test
//! data.

use std::path::PathBuf;

/// The workspace's `testdata/` directory.
pub fn testdata_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}
