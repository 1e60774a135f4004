//! Options shared by the subcommands that open a connection, and the [`ClientBuilder`] they
//! make. Client-wide flags (TLS roots, extensions) belong here, so that every such subcommand
//! takes them the same way.

use std::path::PathBuf;

use clap::Args;
use http::{HeaderName, HeaderValue};
use weft::{ClientBuilder, ClientTls, DeflateConfig, Http2Mode, Limits, Proxy};

use crate::error::Error;
use crate::size::parse_size;

/// How to open a connection.
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// Add a header to the upgrade request (repeatable), e.g. 'Authorization: Bearer abc'.
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'", value_parser = parse_header)]
    headers: Vec<(String, String)>,

    /// Offer a subprotocol (repeatable, in order of preference).
    #[arg(long = "subprotocol", value_name = "NAME")]
    subprotocols: Vec<String>,

    /// Do not offer permessage-deflate compression.
    #[arg(long)]
    no_deflate: bool,

    /// Also trust the CA certificate(s) in this PEM file for wss:// (a private CA).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,

    /// Open the WebSocket as a stream of an HTTP/2 connection (RFC 8441): ALPN h2 over
    /// wss://, prior knowledge (h2c) over ws://; an error if the server does not speak it.
    #[arg(long)]
    pub(crate) http2: bool,

    /// Connect through this proxy: http://[user:password@]host[:port] (HTTP CONNECT),
    /// https://… (the same over TLS), socks5h://… (SOCKS5, the proxy resolves names) or
    /// socks5://… (SOCKS5, names resolved here).
    #[arg(long, value_name = "URL", conflicts_with = "proxy_from_env")]
    proxy: Option<String>,

    /// Connect through the proxy named by https_proxy (for wss://), http_proxy (for ws://) or
    /// all_proxy, except for the hosts in no_proxy (each also in upper case).
    #[arg(long)]
    proxy_from_env: bool,

    /// Follow up to N redirects (301, 302, 303, 307, 308) in answer to the handshake; never
    /// from wss:// to ws://. [default: 0, a redirect is an error]
    #[arg(long, value_name = "N", default_value = "0")]
    max_redirects: usize,

    /// The largest message (and frame) accepted from the server, in bytes; takes KiB, MiB and
    /// GiB suffixes. [default: 64MiB messages, 16MiB frames]
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    max_message_size: Option<usize>,
}

impl ClientArgs {
    /// A builder for `url` with these options.
    pub(crate) fn builder(&self, url: &str) -> Result<ClientBuilder, Error> {
        let mut builder = ClientBuilder::new(url)
            .max_redirects(self.max_redirects)
            .limits(self.limits(Limits::default()));
        if let Some(proxy) = &self.proxy {
            builder = builder.proxy(Proxy::parse(proxy).map_err(Error::Proxy)?);
        }
        if self.proxy_from_env {
            // A bad variable is reported now, as the flag's error; a bad URL is reported when
            // connecting, like any other.
            if let Err(
                err @ (weft::client::Error::InvalidProxy { .. }
                | weft::client::Error::UnsupportedProxyScheme { .. }),
            ) = Proxy::from_env(url)
            {
                return Err(Error::Proxy(err));
            }
            builder = builder.proxy_from_env();
        }
        if self.http2 {
            builder = builder.http2(Http2Mode::Required);
        }
        if self.no_deflate {
            builder = builder.deflate(DeflateConfig::default().enabled(false));
        }
        if let Some(path) = &self.ca {
            let pem = std::fs::read(path).map_err(|source| Error::ReadFile {
                path: path.clone(),
                source,
            })?;
            let tls = ClientTls::default()
                .add_root_pem(&pem)
                .map_err(|err| Error::Tls {
                    path: path.clone(),
                    reason: err.to_string(),
                })?;
            builder = builder.tls(tls);
        }
        for protocol in &self.subprotocols {
            builder = builder.protocol(protocol.as_str());
        }
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str()).map_err(|_| {
                Error::InvalidHeader {
                    header: format!("{name}: {value}"),
                }
            })?;
        }
        Ok(builder)
    }
}

impl ClientArgs {
    /// `limits` with `--max-message-size`, if given, for messages and frames.
    pub(crate) fn limits(&self, limits: Limits) -> Limits {
        match self.max_message_size {
            Some(max) => limits.max_message_size(max).max_frame_size(max),
            None => limits,
        }
    }
}

/// Parses `Name: value` (spaces around either part are dropped), for clap's `value_parser`.
fn parse_header(text: &str) -> Result<(String, String), String> {
    let Some((name, value)) = text.split_once(':') else {
        return Err("expected 'Name: value'".to_owned());
    };
    let (name, value) = (name.trim(), value.trim());
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("{name:?} is not a valid header name"))?;
    HeaderValue::from_str(value).map_err(|_| format!("{value:?} is not a valid header value"))?;
    Ok((name.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_name_colon_value() {
        assert_eq!(
            parse_header("Authorization: Bearer a:b"),
            Ok(("Authorization".to_owned(), "Bearer a:b".to_owned()))
        );
        assert_eq!(
            parse_header("x-empty:"),
            Ok(("x-empty".to_owned(), String::new()))
        );
        assert_eq!(
            parse_header("no colon"),
            Err("expected 'Name: value'".to_owned())
        );
        assert_eq!(
            parse_header("bad name: v"),
            Err("\"bad name\" is not a valid header name".to_owned())
        );
        assert_eq!(
            parse_header("x: a\u{7f}"),
            Err("\"a\\u{7f}\" is not a valid header value".to_owned())
        );
    }
}
