//! Where `cargo xtask peers` installed the interop peers. Shared by `tests/interop.rs` and
//! `crates/weft-cli/tests/browser.rs` (and every other test that talks to a real peer) through
//! `#[path]`, since they live in different packages.
//!
//! Whether the peers are there is decided when the tests are built (`cfg(weft_peers)`, see
//! `crates/weft-cli/peers_installed.rs`); every test that needs them says so:
//!
//! ```ignore
//! #[test]
//! #[cfg_attr(not(weft_peers), ignore = "needs the interop peers: run `cargo xtask peers`")]
//! fn talks_to_python() {
//!     let peers = Peers::get();
//! }
//! ```

use std::path::{Path, PathBuf};

#[path = "../../crates/weft-cli/peers_installed.rs"]
#[allow(dead_code, reason = "each test binary uses a part")]
mod installed;

/// The installed peers and the peer programs of `tests/peers/`.
#[derive(Debug)]
#[allow(dead_code, reason = "each test binary uses some of the peers")]
pub(crate) struct Peers {
    /// The venv's Python, with `websockets`, `hypercorn` and `h2`.
    pub(crate) python: PathBuf,
    /// The venv's `hypercorn` command.
    pub(crate) hypercorn: PathBuf,
    /// `node_modules` with `ws` and `playwright-core`.
    pub(crate) node_modules: PathBuf,
    /// Debian's Chromium.
    pub(crate) chromium: PathBuf,
    /// Debian's tinyproxy (HTTP CONNECT proxy).
    pub(crate) tinyproxy: PathBuf,
    /// Debian's dante-server (SOCKS5 proxy).
    pub(crate) danted: PathBuf,
    /// Debian's microsocks (SOCKS5 proxy).
    pub(crate) microsocks: PathBuf,
    /// Debian's redis-server.
    pub(crate) redis_server: PathBuf,
    /// `tests/peers`: `python/*.py`, `node/*.js`.
    pub(crate) programs: PathBuf,
}

#[allow(dead_code, reason = "each test binary uses some of the peers")]
impl Peers {
    /// The peers. Call it only from a test marked
    /// `#[cfg_attr(not(weft_peers), ignore = "…")]`: it panics, naming what is missing, when a
    /// peer went away after the tests were built.
    pub(crate) fn get() -> Self {
        let root = workspace_root();
        let missing: Vec<String> = installed::required(&root)
            .into_iter()
            .filter(|file| !file.exists())
            .map(|file| file.display().to_string())
            .collect();
        assert!(
            missing.is_empty(),
            "interop peers missing: {} (run `cargo xtask peers`)",
            missing.join(", ")
        );
        let peers = root.join("target/peers");
        let [chromium, tinyproxy, danted, microsocks, redis_server] =
            installed::DEBIAN_PROGRAMS.map(PathBuf::from);
        Self {
            python: peers.join("python/bin/python"),
            hypercorn: peers.join("python/bin/hypercorn"),
            node_modules: peers.join("node/node_modules"),
            chromium,
            tinyproxy,
            danted,
            microsocks,
            redis_server,
            programs: root.join("tests/peers"),
        }
    }

    /// A peer program of `tests/peers`, e.g. `python/echo_server.py`.
    pub(crate) fn program(&self, name: &str) -> PathBuf {
        self.programs.join(name)
    }
}

/// The workspace root, found from this package's directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    installed::workspace_root(manifest_dir).unwrap_or_else(|| manifest_dir.to_path_buf())
}
