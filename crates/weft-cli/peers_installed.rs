//! Whether `cargo xtask peers` has installed the interop peers, decided when the tests are
//! built: the build scripts of `weft-cli` and `weft-tests` call [`emit_cfg`], which sets
//! `cfg(weft_peers)` when every peer is there. Tests that talk to a peer carry
//! `#[cfg_attr(not(weft_peers), ignore = "…")]`, so without the peers they are listed as
//! *ignored* in the test summary, with the reason, instead of passing without checking
//! anything. With `WEFT_REQUIRE_PEERS` set (CI sets it after `cargo xtask peers`), a missing
//! peer fails the build instead.
//!
//! This file lives in `weft-cli` because that crate is published and its build script may
//! only read files inside the package; `tests/` includes it from here. Keep the list in step
//! with `xtask/src/peers.rs`.

use std::path::{Path, PathBuf};

/// The Debian programs the tests start: browser, HTTP CONNECT proxy, two SOCKS5 proxies, Redis.
pub(crate) const DEBIAN_PROGRAMS: [&str; 5] = [
    "/usr/bin/chromium",
    "/usr/bin/tinyproxy",
    "/usr/sbin/danted",
    "/usr/bin/microsocks",
    "/usr/bin/redis-server",
];

/// The weft workspace above `dir`: the closest ancestor with both `Cargo.lock` and
/// `tests/peers`. `None` outside the weft repository (a crate built from crates.io).
pub(crate) fn workspace_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|dir| dir.join("Cargo.lock").exists() && dir.join("tests/peers").is_dir())
        .map(Path::to_path_buf)
}

/// Every file whose presence says a peer is installed. The stamps are written last by
/// `cargo xtask peers`, once the install they describe is complete; `.weft-peers-complete`
/// changes whenever what is installed changes, which is how a build notices a new install.
pub(crate) fn required(root: &Path) -> Vec<PathBuf> {
    let peers = root.join("target/peers");
    let mut files = vec![
        peers.join(".weft-peers-complete"),
        peers.join("python/.weft-peers-stamp"),
        peers.join("python/bin/hypercorn"),
        peers.join("node/.weft-peers-stamp"),
        peers.join("node/node_modules/ws/package.json"),
        peers.join("node/node_modules/playwright-core/package.json"),
    ];
    files.extend(DEBIAN_PROGRAMS.iter().map(PathBuf::from));
    files
}

/// The build-script side: sets `cfg(weft_peers)` when every peer is installed.
#[allow(
    dead_code,
    reason = "called by the build scripts only; tests use the other items"
)]
pub(crate) fn emit_cfg() {
    println!("cargo::rustc-check-cfg=cfg(weft_peers)");
    println!("cargo::rerun-if-env-changed=WEFT_REQUIRE_PEERS");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let Some(root) = workspace_root(&manifest_dir) else {
        return;
    };
    let required = required(&root);
    // A missing file makes cargo run the script again on every build, so installing the
    // peers later is noticed without a `cargo clean`.
    for file in &required {
        println!("cargo::rerun-if-changed={}", file.display());
    }
    let missing: Vec<String> = required
        .iter()
        .filter(|file| !file.exists())
        .map(|file| file.display().to_string())
        .collect();
    if missing.is_empty() {
        println!("cargo::rustc-cfg=weft_peers");
    } else if std::env::var_os("WEFT_REQUIRE_PEERS").is_some() {
        panic!(
            "WEFT_REQUIRE_PEERS is set but the interop peers are not installed (missing: {}); \
             run `cargo xtask peers`",
            missing.join(", ")
        );
    }
}
