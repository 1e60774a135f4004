//! weft's criterion benchmarks live in this package's bench targets (see `Cargo.toml` and
//! `README.md`); run them with `cargo bench -p weft-benches` or `cargo xtask bench`.
//!
//! This library holds what the benches and the comparison servers in `examples/` share: the
//! servers' command line ([`EchoArgs`]) and the TLS every server terminates `wss://` with
//! ([`tls`]).

use std::io;
use std::sync::Arc;

pub mod tls;

/// The command line of every `echo_*` comparison server: `[ADDR] [--tls CERT KEY] [FLAG…]`.
///
/// ```
/// let args = weft_benches::EchoArgs::parse(
///     ["127.0.0.1:0", "--no-keepalive"].map(String::from),
///     "127.0.0.1:9101",
///     &["--no-keepalive"],
/// )?;
/// assert_eq!(args.addr, "127.0.0.1:0");
/// assert!(args.tls.is_none());
/// assert!(args.has_flag("--no-keepalive"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct EchoArgs {
    /// Where to listen (port 0 picks one).
    pub addr: String,
    /// With `--tls CERT KEY`: serve `wss://` with these PEM files, through [`tls::server_config`].
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The other flags given, each one of those the server accepts.
    pub flags: Vec<String>,
}

impl EchoArgs {
    /// Reads the process's arguments; `default_addr` when none is given, and `known_flags`
    /// besides `--tls` (anything else is an error, so a typo does not measure the wrong server).
    pub fn from_env(default_addr: &str, known_flags: &[&str]) -> io::Result<Self> {
        Self::parse(std::env::args().skip(1), default_addr, known_flags)
    }

    /// As [`from_env`](Self::from_env), from the given arguments (without the program name).
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        default_addr: &str,
        known_flags: &[&str],
    ) -> io::Result<Self> {
        let mut args = args.into_iter().peekable();
        let addr = match args.peek() {
            Some(first) if !first.starts_with("--") => args.next().unwrap_or_default(),
            _ => default_addr.to_owned(),
        };
        let (mut tls, mut flags) = (None, Vec::new());
        while let Some(arg) = args.next() {
            if arg == "--tls" {
                let (Some(cert), Some(key)) = (args.next(), args.next()) else {
                    return Err(io::Error::other("--tls needs CERT and KEY (PEM files)"));
                };
                tls = Some(tls::server_config(cert.as_ref(), key.as_ref())?);
            } else if known_flags.contains(&arg.as_str()) {
                flags.push(arg);
            } else {
                return Err(io::Error::other(format!(
                    "unknown argument `{arg}` (expected [ADDR] [--tls CERT KEY]{})",
                    known_flags
                        .iter()
                        .map(|flag| format!(" [{flag}]"))
                        .collect::<String>()
                )));
            }
        }
        Ok(Self { addr, tls, flags })
    }

    /// Whether `flag` was given.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|given| given == flag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> io::Result<EchoArgs> {
        EchoArgs::parse(
            args.iter().map(|&arg| arg.to_owned()),
            "127.0.0.1:9",
            &["--quiet"],
        )
    }

    #[test]
    fn the_address_is_optional_and_flags_follow_it() {
        let args = parse(&["--quiet"]).unwrap();
        assert_eq!(args.addr, "127.0.0.1:9");
        assert!(args.has_flag("--quiet"));
        assert!(!parse(&["127.0.0.1:0"]).unwrap().has_flag("--quiet"));
    }

    #[test]
    fn unknown_flags_and_a_tls_flag_without_its_files_are_refused() {
        let unknown = parse(&["127.0.0.1:0", "--loud"]).unwrap_err();
        assert!(unknown.to_string().contains("`--loud`"), "{unknown}");
        let short = parse(&["--tls", "cert.pem"]).unwrap_err();
        assert!(short.to_string().contains("CERT and KEY"), "{short}");
    }

    #[test]
    fn tls_files_become_a_server_config() {
        let dir = std::env::temp_dir().join(format!("weft-benches-args-{}", std::process::id()));
        let files = tls::write_certificates(&dir).unwrap();
        let args = parse(&[
            "--tls",
            files.cert.to_str().unwrap(),
            files.key.to_str().unwrap(),
            "--quiet",
        ])
        .unwrap();
        let config = args.tls.as_ref().expect("a TLS config");
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
        assert!(args.has_flag("--quiet"));
        let missing = parse(&["--tls", "/nonexistent/cert.pem", "/nonexistent/key.pem"]);
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/cert.pem")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
