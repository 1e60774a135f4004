//! The `weft` binary end to end: `serve` on a free port, its demo page over raw HTTP, `connect`
//! against it, and the failures a user sees. Every wait is bounded by [`TIMEOUT`].

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::{Lines, TIMEOUT};

#[path = "support/lines.rs"]
mod support;

fn weft() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weft"))
}

/// Waits for `child` to exit; kills it and panics after [`TIMEOUT`].
fn wait(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Sends SIGINT, as Ctrl-C in a terminal does.
#[cfg(unix)]
fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -INT failed: {status}");
}

/// A running `weft serve`, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    stderr: Lines,
}

impl Server {
    /// Starts `weft serve --listen 127.0.0.1:0 ARGS…` and reads the address from its banner.
    fn start(args: &[&str]) -> Self {
        let mut child = weft()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start weft serve");
        let stdout = Lines::read_from(child.stdout.take().expect("stdout"));
        let stderr = Lines::read_from(child.stderr.take().expect("stderr"));
        let banner = stdout.next("the banner of weft serve");
        let (ws, http) = if banner.contains("wss://") {
            ("wss", "https")
        } else {
            ("ws", "http")
        };
        let addr = banner
            .strip_prefix(&format!("weft: listening on {ws}://"))
            .and_then(|rest| rest.split_once(' '))
            .map(|(addr, rest)| {
                assert_eq!(rest, format!("(demo page: {http}://{addr}/)"), "{banner}");
                addr.parse().expect("a socket address")
            })
            .unwrap_or_else(|| panic!("unexpected banner {banner:?}"));
        Self {
            child,
            addr,
            stderr,
        }
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Stops the server with SIGINT and returns its status and what it logged.
    #[cfg(unix)]
    fn interrupt(mut self) -> (ExitStatus, Vec<String>) {
        interrupt(&self.child);
        let status = wait(&mut self.child, "weft serve");
        (status, self.stderr.rest())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished `weft connect` did.
#[derive(Debug)]
struct Outcome {
    status: ExitStatus,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

/// Runs `weft ARGS…` with `input` on stdin (then closed) until it exits.
fn run(args: &[&str], input: &str) -> Outcome {
    let mut child = weft()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weft");
    let stdout = Lines::read_from(child.stdout.take().expect("stdout"));
    let stderr = Lines::read_from(child.stderr.take().expect("stderr"));
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_owned();
    // A child that fails early stops reading; the write error does not matter then.
    thread::spawn(move || stdin.write_all(input.as_bytes()));
    let status = wait(&mut child, &format!("weft {args:?}"));
    Outcome {
        status,
        stdout: stdout.rest(),
        stderr: stderr.rest(),
    }
}

/// `weft connect URL` with stdin kept open: lines go in one at a time.
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines,
    stderr: Lines,
}

impl Session {
    fn start(url: &str) -> Self {
        let mut child = weft()
            .args(["connect", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start weft connect");
        let stdout = Lines::read_from(child.stdout.take().expect("stdout"));
        let stderr = Lines::read_from(child.stderr.take().expect("stderr"));
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            stdout,
            stderr,
        }
    }

    /// Sends a line (stdin stays open).
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").expect("write to weft connect");
        stdin.flush().expect("flush");
    }

    /// Sends a line and waits for its echo.
    fn round_trip(&mut self, line: &str) {
        self.send(line);
        assert_eq!(self.stdout.next("an echo"), line);
    }

    fn finish(mut self) -> Outcome {
        let status = wait(&mut self.child, "weft connect");
        Outcome {
            status,
            stdout: self.stdout.rest(),
            stderr: self.stderr.rest(),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 GET: the status line, the header lines, the body.
fn http_get(addr: SocketAddr, path: &str) -> (String, Vec<String>, String) {
    let mut tcp = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    tcp.set_read_timeout(Some(TIMEOUT))
        .expect("set_read_timeout");
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    tcp.read_to_string(&mut response)
        .expect("read the response to the end");
    let (head, body) = response.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.split("\r\n").map(str::to_owned);
    let status = lines.next().expect("a status line");
    (status, lines.collect(), body.to_owned())
}

/// Asserts a failure a user can read: non-zero status, one line on stderr, saying `expected`.
fn assert_fails_with(outcome: &Outcome, expected: &str) {
    assert!(!outcome.status.success(), "{outcome:?}");
    assert_eq!(outcome.stderr.len(), 1, "one line on stderr: {outcome:?}");
    let line = &outcome.stderr[0];
    assert!(line.starts_with("weft: "), "{outcome:?}");
    assert!(line.contains(expected), "{expected:?} not in {outcome:?}");
}

#[test]
fn help_of_each_subcommand_shows_examples() {
    for (args, example) in [
        (&["--help"][..], "weft connect ws://127.0.0.1:9001"),
        (&["serve", "--help"][..], "weft serve --listen"),
        (
            &["connect", "--help"][..],
            "echo hello | weft connect ws://127.0.0.1:9001",
        ),
    ] {
        let outcome = run(args, "");
        assert!(outcome.status.success(), "{outcome:?}");
        assert!(
            outcome.stdout.iter().any(|line| line == "Examples:"),
            "{outcome:?}"
        );
        assert!(
            outcome.stdout.iter().any(|line| line.contains(example)),
            "{outcome:?}"
        );
    }
}

#[test]
fn serve_prints_its_url_and_serves_the_demo_page() {
    let server = Server::start(&[]);
    assert_ne!(server.addr.port(), 0);
    for path in ["/", "/index.html"] {
        let (status, headers, body) = http_get(server.addr, path);
        assert_eq!(status, "HTTP/1.1 200 OK", "{path}");
        assert!(
            headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case("content-type: text/html; charset=utf-8")),
            "{headers:?}"
        );
        assert!(body.contains("new WebSocket("), "{path}: {body}");
    }
    let (status, _, _) = http_get(server.addr, "/nope");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}

#[test]
fn connect_sends_stdin_lines_and_prints_the_echoes() {
    let server = Server::start(&[]);
    let outcome = run(
        &["connect", &server.url()],
        "first line\nsecond line, ünïcödé\n",
    );
    assert!(outcome.status.success(), "{outcome:?}");
    assert_eq!(outcome.stdout, ["first line", "second line, ünïcödé"]);
    assert_eq!(outcome.stderr, Vec::<String>::new());
}

#[test]
fn subprotocols_are_offered_and_chosen() {
    let server = Server::start(&["--subprotocol", "chat.v2", "--subprotocol", "chat.v1"]);
    let outcome = run(
        &["connect", &server.url(), "--subprotocol", "chat.v1"],
        "hi\n",
    );
    assert!(outcome.status.success(), "{outcome:?}");
    assert_eq!(outcome.stdout, ["hi"]);
    let logged = server.stderr.next("the server's log of the connection");
    assert!(
        logged.ends_with("connected to / (subprotocol chat.v1)"),
        "{logged}"
    );
}

#[test]
fn connect_fails_with_one_line_when_nothing_listens() {
    let outcome = run(&["connect", "ws://127.0.0.1:1"], "never sent\n");
    assert_fails_with(&outcome, "cannot connect to 127.0.0.1:1");
    assert_eq!(outcome.stdout, Vec::<String>::new());
}

#[test]
fn connect_fails_with_one_line_on_a_bad_url() {
    let outcome = run(&["connect", "http://127.0.0.1:9001"], "");
    assert_fails_with(
        &outcome,
        "invalid URL \"http://127.0.0.1:9001\": the scheme must be ws or wss",
    );
}

#[test]
fn a_refusal_shows_the_status_and_the_first_line_of_the_body() {
    let server = Server::start(&["--origin", "https://app.example"]);
    let outcome = run(
        &[
            "connect",
            &server.url(),
            "--header",
            "Origin: https://evil.example",
        ],
        "never sent\n",
    );
    assert_fails_with(&outcome, "server refused the connection: 403 Forbidden: ");

    let allowed = run(
        &[
            "connect",
            &server.url(),
            "--header",
            "Origin: https://app.example",
        ],
        "welcome\n",
    );
    assert!(allowed.status.success(), "{allowed:?}");
    assert_eq!(allowed.stdout, ["welcome"]);
}

#[test]
fn a_message_over_the_limit_is_closed_with_1009() {
    let server = Server::start(&["--max-message-size", "16"]);
    let mut session = Session::start(&server.url());
    session.round_trip("sixteen bytes ok");
    // Nothing is sent after the oversized message: the server stops reading at once, and a
    // write that races its close frame would fail with a reset instead.
    session.send("seventeen bytes!!");
    let outcome = session.finish();
    assert_fails_with(
        &outcome,
        "server closed the connection with 1009 (message too big)",
    );
    assert_eq!(outcome.stdout, Vec::<String>::new());
}

#[cfg(unix)]
#[test]
fn sigint_shuts_the_server_down_gracefully() {
    let server = Server::start(&[]);
    let mut session = Session::start(&server.url());
    session.round_trip("before shutdown");

    let (status, log) = server.interrupt();
    assert!(status.success(), "weft serve exited with {status}: {log:?}");
    assert!(
        log.iter().any(|line| line == "weft: shutting down"),
        "{log:?}"
    );
    assert_eq!(
        log.last().map(String::as_str),
        Some("weft: stopped"),
        "{log:?}"
    );

    // The client was sent 1001 (going away), a clean close: it exits 0 with stdin still open.
    let outcome = session.finish();
    assert!(outcome.status.success(), "{outcome:?}");
    assert_eq!(outcome.stderr, Vec::<String>::new());
}

#[cfg(unix)]
#[test]
fn sigint_closes_a_connect_session_with_1000() {
    let server = Server::start(&[]);
    let mut session = Session::start(&server.url());
    session.round_trip("hello");
    interrupt(&session.child);
    let outcome = session.finish();
    assert!(outcome.status.success(), "{outcome:?}");
    let logged: Vec<String> = [
        server.stderr.next("the server's log of the connection"),
        server.stderr.next("the server's log of the close"),
    ]
    .into();
    assert!(
        logged[1].ends_with("closed with 1000 (normal closure)"),
        "{logged:?}"
    );
}

/// A private CA and a certificate for `localhost` signed by it, written to a fresh directory:
/// (directory, CA file, certificate file, key file).
fn private_pki() -> (std::path::PathBuf, String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let dir = std::env::temp_dir().join(format!("weft-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_pem = ca.self_signed(&ca_key).expect("CA cert").pem();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf params");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf_pem = leaf
        .signed_by(&leaf_key, &Issuer::from_params(&ca, &ca_key))
        .expect("leaf")
        .pem();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write PEM");
        path.display().to_string()
    };
    let ca_file = write("ca.pem", &ca_pem);
    let cert_file = write("cert.pem", &leaf_pem);
    let key_file = write("key.pem", &leaf_key.serialize_pem());
    (dir, ca_file, cert_file, key_file)
}

#[test]
fn serve_and_connect_over_tls_with_a_private_ca() {
    let (dir, ca, cert, key) = private_pki();
    let server = Server::start(&["--tls-cert", &cert, "--tls-key", &key]);
    let url = format!("wss://localhost:{}", server.addr.port());

    let outcome = run(&["connect", &url, "--ca", &ca], "secure line\n");
    assert!(outcome.status.success(), "{outcome:?}");
    assert_eq!(outcome.stdout, ["secure line"]);

    let outcome = run(
        &["connect", &url, "--ca", &ca, "--no-deflate"],
        "uncompressed\n",
    );
    assert!(outcome.status.success(), "{outcome:?}");
    assert_eq!(outcome.stdout, ["uncompressed"]);

    let outcome = run(&["connect", &url], "x\n");
    assert_fails_with(
        &outcome,
        "weft: the server's certificate for localhost is signed by an untrusted certificate authority",
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tls_files_that_do_not_exist_are_named() {
    let outcome = run(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent/c.pem",
            "--tls-key",
            "/nonexistent/k.pem",
        ],
        "",
    );
    assert!(!outcome.status.success());
    assert_eq!(outcome.stderr.len(), 1, "{outcome:?}");
    assert!(
        outcome.stderr[0]
            .starts_with("weft: /nonexistent/c.pem: invalid TLS settings: cannot read"),
        "{outcome:?}"
    );
}
