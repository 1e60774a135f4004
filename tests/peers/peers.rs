//! Where `cargo xtask peers` installed the interop peers, and the gate every interop test passes
//! first. Shared by `tests/interop.rs` and `crates/weft-cli/tests/browser.rs` through
//! `#[path]`, since the two live in different packages.
//!
//! ```ignore
//! let Some(peers) = Peers::find() else { return };
//! ```

use std::path::{Path, PathBuf};

/// What a test prints (or, with `WEFT_REQUIRE_PEERS` set, fails with) when a peer is missing.
pub(crate) const NOT_INSTALLED: &str =
    "skipped: interop peers are not installed (run cargo xtask peers)";

/// The installed peers and the peer programs of `tests/peers/`.
#[derive(Debug)]
pub(crate) struct Peers {
    /// The venv's Python, with `websockets`.
    pub(crate) python: PathBuf,
    /// `node_modules` with `ws` and `playwright-core`.
    pub(crate) node_modules: PathBuf,
    /// Debian's Chromium.
    pub(crate) chromium: PathBuf,
    /// `tests/peers`: `python/*.py`, `node/*.js`.
    pub(crate) programs: PathBuf,
}

impl Peers {
    /// The peers, if every one is installed. Otherwise prints [`NOT_INSTALLED`] and returns
    /// `None`, so the test passes as skipped; but when `WEFT_REQUIRE_PEERS` is set (CI sets
    /// it after `cargo xtask peers`), a missing peer fails the test.
    pub(crate) fn find() -> Option<Self> {
        let root = workspace_root();
        let peers = Self {
            python: root.join("target/peers/python/bin/python"),
            node_modules: root.join("target/peers/node/node_modules"),
            chromium: PathBuf::from("/usr/bin/chromium"),
            programs: root.join("tests/peers"),
        };
        let installed = peers.python.exists()
            && peers.node_modules.join("ws").exists()
            && peers.chromium.exists();
        if installed {
            return Some(peers);
        }
        assert!(
            std::env::var_os("WEFT_REQUIRE_PEERS").is_none(),
            "{NOT_INSTALLED} (WEFT_REQUIRE_PEERS is set)"
        );
        println!("{NOT_INSTALLED}");
        None
    }

    /// A peer program of `tests/peers`, e.g. `python/echo_server.py`.
    pub(crate) fn program(&self, name: &str) -> PathBuf {
        self.programs.join(name)
    }
}

/// The workspace root: the closest ancestor of this package that holds `Cargo.lock`.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .unwrap_or(manifest_dir)
        .to_path_buf()
}
