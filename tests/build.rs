//! Sets `cfg(weft_peers)` when `cargo xtask peers` has installed the interop peers, so the
//! tests that need them run; otherwise they are listed as ignored, with the reason.

#[path = "../crates/weft-cli/peers_installed.rs"]
mod peers_installed;

fn main() {
    peers_installed::emit_cfg();
}
