//! weft's criterion benchmarks live in this package's bench targets (see `Cargo.toml` and
//! `README.md`); run them with `cargo bench -p weft-benches` or `cargo xtask bench`.
//!
//! This library holds what the benches and the comparison servers in `examples/` share: the
//! servers' command line ([`EchoArgs`]), the accept loop of those not built on a server of
//! their library ([`serve_echo`]), and the TLS every server terminates `wss://` with ([`tls`]).

use std::future::Future;
use std::io;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

pub mod tls;

/// The command line of every `echo_*` comparison server: `[ADDR] [--tls CERT KEY] [FLAG…]`,
/// where a flag is one of those the server knows, or `--name=VALUE` for a known `--name=`.
///
/// ```
/// let args = weft_benches::EchoArgs::parse(
///     ["127.0.0.1:0", "--no-keepalive", "--deflate=level=1"].map(String::from),
///     "127.0.0.1:9101",
///     &["--no-keepalive", "--deflate="],
/// )?;
/// assert_eq!(args.addr, "127.0.0.1:0");
/// assert!(args.tls.is_none());
/// assert!(args.has_flag("--no-keepalive"));
/// assert_eq!(args.value("--deflate="), Some("level=1"));
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
            } else if known_flags
                .iter()
                .any(|&known| arg == known || (known.ends_with('=') && arg.starts_with(known)))
            {
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

    /// The value of `--name=VALUE` given as `prefix` `--name=` (the last one given).
    pub fn value(&self, prefix: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find_map(|given| given.strip_prefix(prefix))
    }
}

/// Runs a comparison echo server on tokio's `current_thread` runtime (one core, whatever the
/// machine has): binds `args.addr`, prints `listening on ADDR`, sets `TCP_NODELAY` on each
/// accepted socket (weft's server sets it), and runs each connection in a task of its own,
/// `plain(tcp)`, or with `--tls`, `tls(stream)` once the TLS handshake is done.
///
/// `plain` and `tls` are usually one generic function, given twice so that each stream type
/// gets its own copy and the plain path has no TLS dispatch in it. What they return is dropped.
///
/// ```no_run
/// use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
///
/// async fn hello(mut stream: impl AsyncRead + AsyncWrite + Unpin) {
///     let _ = stream.write_all(b"hello").await;
/// }
///
/// let args = weft_benches::EchoArgs::from_env("127.0.0.1:9100", &[])?;
/// weft_benches::serve_echo(args, hello, hello)
/// # ; Ok::<(), std::io::Error>(())
/// ```
pub fn serve_echo<P, PF, T, TF>(args: EchoArgs, plain: P, tls: T) -> io::Result<()>
where
    P: Fn(TcpStream) -> PF,
    PF: Future + Send + 'static,
    PF::Output: Send + 'static,
    T: Fn(TlsStream<TcpStream>) -> TF + Copy + Send + 'static,
    TF: Future + Send,
{
    let acceptor = args.tls.map(TlsAcceptor::from);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let listener = TcpListener::bind(&args.addr).await?;
            println!("listening on {}", listener.local_addr()?);
            loop {
                let (tcp, _) = listener.accept().await?;
                let _ = tcp.set_nodelay(true);
                match &acceptor {
                    None => {
                        tokio::spawn(plain(tcp));
                    }
                    Some(acceptor) => {
                        let handshake = acceptor.accept(tcp);
                        tokio::spawn(async move {
                            if let Ok(stream) = handshake.await {
                                let _ = tls(stream).await;
                            }
                        });
                    }
                }
            }
        })
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
