//! Sets `cfg(weft_peers)` for the browser test when `cargo xtask peers` has installed Chromium
//! and playwright (see `peers_installed.rs`). Outside the weft repository it does nothing.

#[path = "peers_installed.rs"]
mod peers_installed;

fn main() {
    peers_installed::emit_cfg();
}
