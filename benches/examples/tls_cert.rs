//! Writes a throwaway CA and a certificate for `localhost` and `127.0.0.1` signed by it, for the
//! TLS scenarios of `cargo xtask bench --compare`: `ca.pem` for `weft bench --ca`, `cert.pem`
//! and `key.pem` for the servers' `--tls CERT KEY`. It prints the three paths, one per line, in
//! that order.
//!
//! ```sh
//! cargo run --release -p weft-benches --example tls_cert -- target/bench/tls
//! ```

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/bench/tls"), PathBuf::from);
    let files = weft_benches::tls::write_certificates(&dir)?;
    for path in [files.ca, files.cert, files.key] {
        println!("{}", path.display());
    }
    Ok(())
}
