//! `weft connect URL`: sends each stdin line as a text message and prints every message that
//! arrives; closes with 1000 at the end of stdin (or on Ctrl-C).

use std::io::{BufRead, IsTerminal};

use clap::Args;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use weft::{CloseCode, CloseFrame, Message, WebSocketReader, WebSocketWriter};

use crate::client::ClientArgs;
use crate::error::Error;

/// `--help` examples.
pub(crate) const EXAMPLES: &str = "\
Examples:
  weft connect ws://127.0.0.1:9001
  echo hello | weft connect ws://127.0.0.1:9001
  weft connect ws://127.0.0.1:9001/chat --subprotocol chat.v1 -H 'Authorization: Bearer abc'
  weft connect wss://localhost:9001 --ca ca.pem      # trust a private certificate authority

Text messages are printed as they are, one per line; binary ones as <binary N bytes>.
The exit status is 0 when the connection closes cleanly (1000 or 1001), 1 otherwise.";

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
}

/// How many stdin lines may wait to be sent before the stdin reader waits.
const LINES_QUEUED: usize = 64;

/// Connects, sends stdin lines until stdin ends, then closes and waits for the close to finish.
pub(crate) async fn run(args: ConnectArgs) -> Result<(), Error> {
    let builder = args.client.builder(&args.url)?;
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
    let mut lines = stdin_lines();
    let receiving = receive(reader, args.show_pings);
    tokio::pin!(receiving);

    // Send until stdin ends or Ctrl-C, unless the server ends the connection first.
    let sent = tokio::select! {
        received = &mut receiving => return received,
        sent = send_lines(&mut writer, &mut lines) => sent,
        () = ctrl_c() => Ok(()),
    };
    // If the close cannot be sent, the connection is already over and the receiving side
    // reports why.
    let _ = writer.close(CloseCode::NORMAL, "").await;
    let received = receiving.await;
    sent.and(received)
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

/// Prints every message until the connection ends, then says whether it ended cleanly.
async fn receive<S>(mut reader: WebSocketReader<S>, show_pings: bool) -> Result<(), Error>
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
            Ok(Message::Binary(data)) => format!("<binary {} bytes>\n", data.len()),
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
