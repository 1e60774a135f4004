//! `weft connect URL`: sends each stdin line as a text message (or a file, or all of stdin, as
//! one binary message) and prints every message that arrives; closes with 1000 at the end of
//! stdin (or on Ctrl-C), and says on stderr how the server closed, if it did.

use std::io::{BufRead, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use clap::{Args, ValueEnum};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use weft::{CloseCode, CloseFrame, Message, WebSocketReader, WebSocketWriter};

use crate::client::ClientArgs;
use crate::error::{Error, close_text};

/// `--help` examples.
pub(crate) const EXAMPLES: &str = "\
Examples:
  weft connect ws://127.0.0.1:9001
  echo hello | weft connect ws://127.0.0.1:9001
  weft connect ws://127.0.0.1:9001/chat --subprotocol chat.v1 -H 'Authorization: Bearer abc'
  weft connect wss://localhost:9001 --ca ca.pem      # trust a private certificate authority
  weft connect ws://127.0.0.1:9001 --send-binary frame.bin --print-binary hex < /dev/null
  head -c 1024 /dev/urandom | weft connect ws://127.0.0.1:9001 --send-binary - --print-binary base64
  weft connect wss://example.com/feed --proxy http://user:pass@proxy.corp:3128
  weft connect ws://127.0.0.1:9001 --proxy socks5h://127.0.0.1:1080

Text messages are printed as they are, one per line; binary ones as <binary N bytes>, or in
hex or base64 with --print-binary. When the server closes the connection, its close code and
reason go to stderr. The exit status is 0 when the connection closes cleanly (1000 or 1001),
1 otherwise.";

/// The arguments of `weft connect`.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// The server's URL.
    #[arg(help = "The server's URL: ws://host[:port][/path][?query]")]
    url: String,

    #[command(flatten)]
    client: ClientArgs,

    /// Print received pings and pongs to stderr.
    #[arg(long)]
    show_pings: bool,

    /// Send FILE as one binary message first, then the lines of stdin as usual; `-` sends
    /// all of stdin (to its end) as the one binary message instead.
    #[arg(long, value_name = "FILE")]
    send_binary: Option<PathBuf>,

    /// How to print binary messages, one per line.
    #[arg(long, value_enum, value_name = "HOW", default_value = "summary")]
    print_binary: BinaryFormat,
}

/// How binary messages are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BinaryFormat {
    /// `<binary N bytes>`.
    Summary,
    /// Lower-case hex digits, two per byte.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

impl BinaryFormat {
    /// The line for a binary message.
    fn line(self, data: &[u8]) -> String {
        match self {
            BinaryFormat::Summary => format!("<binary {} bytes>\n", data.len()),
            BinaryFormat::Hex => {
                let mut line = String::with_capacity(data.len() * 2 + 1);
                for byte in data {
                    line.push(char::from(HEX[usize::from(byte >> 4)]));
                    line.push(char::from(HEX[usize::from(byte & 0x0f)]));
                }
                line.push('\n');
                line
            }
            BinaryFormat::Base64 => {
                let mut line = base64::engine::general_purpose::STANDARD.encode(data);
                line.push('\n');
                line
            }
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// How many stdin lines may wait to be sent before the stdin reader waits.
const LINES_QUEUED: usize = 64;

/// Connects, sends stdin lines until stdin ends, then closes and waits for the close to finish.
pub(crate) async fn run(args: ConnectArgs) -> Result<(), Error> {
    let builder = args.client.builder(&args.url)?;
    let binary = match &args.send_binary {
        Some(path) => Some(binary_message(path).await?),
        None => None,
    };
    let whole_stdin = args
        .send_binary
        .as_ref()
        .is_some_and(|path| path.as_os_str() == "-");
    let (ws, response) = builder.connect().await.map_err(Error::Connect)?;
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        let protocol = response
            .headers()
            .get(http::header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|value| value.to_str().ok())
            .map(|protocol| format!(" (subprotocol {protocol})"))
            .unwrap_or_default();
        eprintln!(
            "weft: connected to {}{protocol}; type a line to send it, Ctrl-D to close",
            args.url
        );
    }

    let (reader, mut writer) = ws.split();
    // Set once our close frame is on its way: a close frame from the server after it is the
    // answer, not the server closing.
    let closing = AtomicBool::new(false);
    let receiving = receive(reader, args.show_pings, args.print_binary, &closing);
    tokio::pin!(receiving);

    // Send until stdin ends or Ctrl-C, unless the server ends the connection first.
    let sending = async {
        if let Some(message) = binary {
            // A send that fails is left to the receiving side to report, as for lines.
            if writer.send(message).await.is_err() {
                return Ok(());
            }
        }
        if !whole_stdin {
            send_lines(&mut writer, &mut stdin_lines()).await?;
        }
        Ok(())
    };
    let sent = tokio::select! {
        received = &mut receiving => return received,
        sent = sending => sent,
        () = ctrl_c() => Ok(()),
    };
    closing.store(true, Ordering::Release);
    // If the close cannot be sent, the connection is already over and the receiving side
    // reports why.
    let _ = writer.close(CloseCode::NORMAL, "").await;
    let received = receiving.await;
    sent.and(received)
}

/// The message of `--send-binary`: the file's bytes, or all of stdin for `-`. Read before
/// connecting, so that a missing file fails without touching the server.
async fn binary_message(path: &Path) -> Result<Message, Error> {
    let data = if path.as_os_str() == "-" {
        // A blocking read of a terminal cannot be cancelled; it runs on a thread of its own.
        tokio::task::spawn_blocking(|| {
            let mut data = Vec::new();
            std::io::stdin().lock().read_to_end(&mut data).map(|_| data)
        })
        .await
        .map_err(|err| Error::Stdin(std::io::Error::other(err)))?
        .map_err(Error::Stdin)?
    } else {
        std::fs::read(path).map_err(|source| Error::ReadFile {
            path: path.to_owned(),
            source,
        })?
    };
    Ok(Message::binary(data))
}

/// Sends each line as a text message until stdin ends. A send that fails ends the sending
/// quietly: the receiving side sees the same failure and reports it.
async fn send_lines<S>(
    writer: &mut WebSocketWriter<S>,
    lines: &mut mpsc::Receiver<std::io::Result<String>>,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(line) = lines.recv().await {
        if writer
            .send(Message::text(line.map_err(Error::Stdin)?))
            .await
            .is_err()
        {
            break;
        }
    }
    Ok(())
}

/// Prints every message until the connection ends, then says whether it ended cleanly; a
/// clean close by the server (not an answer to ours) is reported on stderr too.
async fn receive<S>(
    mut reader: WebSocketReader<S>,
    show_pings: bool,
    binary: BinaryFormat,
    closing: &AtomicBool,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stdout = tokio::io::stdout();
    // What ended the connection: the server's close frame or a failure, whichever came first.
    // A failure after the server's close frame (it may drop the connection before our answer
    // arrives) does not change how the server chose to end it.
    let mut ending: Option<Result<Option<CloseFrame>, weft::Error>> = None;
    while let Some(message) = reader.next().await {
        let line = match message {
            Ok(Message::Text(text)) => format!("{}\n", text.as_str()),
            Ok(Message::Binary(data)) => binary.line(&data),
            Ok(Message::Ping(data)) => {
                if show_pings {
                    eprintln!("<ping {} bytes>", data.len());
                }
                continue;
            }
            Ok(Message::Pong(data)) => {
                if show_pings {
                    eprintln!("<pong {} bytes>", data.len());
                }
                continue;
            }
            Ok(Message::Close(frame)) => {
                let clean = frame
                    .as_ref()
                    .is_none_or(|frame| CLEAN.contains(&frame.code()));
                // An unclean close is the command's error line; a clean one is said here.
                if ending.is_none() && clean && !closing.load(Ordering::Acquire) {
                    eprintln!(
                        "weft: server closed the connection with {}",
                        close_text(frame.as_ref())
                    );
                }
                ending.get_or_insert(Ok(frame));
                continue;
            }
            Ok(_) => continue,
            // Keep reading: the connection has queued its close frame and finishes the closing
            // handshake before the stream ends.
            Err(err) => {
                ending.get_or_insert(Err(err));
                continue;
            }
        };
        stdout
            .write_all(line.as_bytes())
            .await
            .map_err(Error::Stdout)?;
        stdout.flush().await.map_err(Error::Stdout)?;
    }
    match ending {
        // A close frame without a status code (1005) is still a clean close.
        Some(Ok(None)) => Ok(()),
        Some(Ok(Some(frame))) if CLEAN.contains(&frame.code()) => Ok(()),
        Some(Ok(Some(frame))) => Err(Error::ClosedByServer(frame)),
        Some(Err(err)) => Err(Error::Connection(err)),
        None => Err(Error::NoCloseFrame),
    }
}

/// The close codes of a connection that ended as intended.
const CLEAN: [CloseCode; 2] = [CloseCode::NORMAL, CloseCode::GOING_AWAY];

/// Lines of stdin, without their line ending, read on a thread of their own: a blocking read
/// of a terminal cannot be cancelled, and must not keep the runtime from shutting down.
fn stdin_lines() -> mpsc::Receiver<std::io::Result<String>> {
    let (tx, rx) = mpsc::channel(LINES_QUEUED);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut number = 0u64;
        loop {
            let mut line = Vec::new();
            number += 1;
            let item = match stdin.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => {
                    if line.ends_with(b"\n") {
                        line.pop();
                        if line.ends_with(b"\r") {
                            line.pop();
                        }
                    }
                    String::from_utf8(line).map_err(|_| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("line {number} is not UTF-8; text messages must be"),
                        )
                    })
                }
                Err(err) => Err(err),
            };
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    rx
}

/// Completes on Ctrl-C; never, if the handler cannot be installed.
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
