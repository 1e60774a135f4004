//! The demo page of `weft serve` in a real browser: Debian's Chromium, headless, driven by
//! playwright-core through `tests/peers/node/browser_demo.js`. The page connects, a text
//! message with non-ASCII characters and the page's 1 MiB binary message come back intact,
//! permessage-deflate is negotiated, and the page closes with 1000. With `--broadcast`, two
//! tabs on the room's page (`tests/peers/node/browser_room.js`) each see the other's message.
//!
//! Ignored, with the reason, when the interop peers are not installed (`cargo xtask peers`);
//! with `WEFT_REQUIRE_PEERS` set, the build fails instead. Every wait is bounded; the server and the browser are stopped
//! when the test ends, however it ends.

#[path = "../../../tests/peers/peers.rs"]
#[allow(
    dead_code,
    reason = "shared with tests/interop.rs, which uses the Python peer too"
)]
mod peers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use peers::Peers;
use support::{Lines, TIMEOUT};

#[path = "support/lines.rs"]
mod support;

/// The longest the whole browser run may take: starting Chromium, then each step of the script
/// within its own limit of 20 s.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

/// A child process that is stopped when dropped: SIGTERM first, so that playwright closes
/// Chromium, then SIGKILL if it has not exited within a few seconds.
struct Process {
    name: &'static str,
    child: Child,
}

impl Process {
    fn spawn(name: &'static str, command: &mut Command) -> Self {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name}: {err}"));
        Self { name, child }
    }

    /// Waits for the child to exit, at most `timeout`.
    fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        if self.wait(Duration::from_secs(5)).is_none() {
            eprintln!("{} did not stop on SIGTERM; killing it", self.name);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A fresh, empty directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", dir.display()));
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `weft serve --listen 127.0.0.1:0` with `args`, and the address from its banner (which
/// names the scheme, `ws` or `wss`).
fn start_weft_serve(args: &[&str]) -> (Process, SocketAddr, Lines) {
    let mut server = Process::spawn(
        "weft serve",
        Command::new(env!("CARGO_BIN_EXE_weft"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args),
    );
    let stdout = Lines::read_from(server.child.stdout.take().expect("stdout"));
    let log = Lines::read_from(server.child.stderr.take().expect("stderr"));
    let banner = stdout
        .next_within(TIMEOUT)
        .expect("the banner of weft serve");
    let addr = banner
        .strip_prefix("weft: listening on ws://")
        .or_else(|| banner.strip_prefix("weft: listening on wss://"))
        .and_then(|rest| rest.split_once(' '))
        .and_then(|(addr, _)| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected banner {banner:?}"));
    let capacity = log.next_within(TIMEOUT).expect("the capacity line");
    assert!(capacity.starts_with("weft: serving up to "), "{capacity}");
    (server, addr, log)
}

/// Runs the browser script `script` (in `tests/peers/node`) with `args` and a fresh profile,
/// and returns its exit status and the JSON line it printed.
fn run_browser_script(
    peers: &Peers,
    script: &str,
    args: &[&str],
) -> (ExitStatus, serde_json::Value) {
    let profile = TempDir::new("weft-chromium-profile");
    let started = Instant::now();
    let mut browser = Process::spawn(
        "node (a browser script)",
        Command::new("node")
            .arg(peers.program(&format!("node/{script}")))
            .args(args)
            .arg("--user-data-dir")
            .arg(&profile.0)
            .arg("--chromium")
            .arg(&peers.chromium)
            .args(["--timeout", "20000"])
            .env("WEFT_PEERS_NODE_MODULES", &peers.node_modules)
            // playwright-core downloads nothing by itself; make sure nothing tries.
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"),
    );
    let stdout = Lines::read_from(browser.child.stdout.take().expect("stdout"));
    let stderr = Lines::read_from(browser.child.stderr.take().expect("stderr"));
    let line = stdout.next_within(BROWSER_TIMEOUT).unwrap_or_else(|| {
        panic!(
            "no result from {script} within {BROWSER_TIMEOUT:?}; stderr: {:?}",
            stderr.so_far()
        )
    });
    let status = browser.wait(TIMEOUT).expect("the browser script exits");
    let result: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {line}; stderr: {:?}", stderr.so_far()));
    println!("Chromium ({script}), {:?}: {result}", started.elapsed());
    assert!(
        status.success() && result["ok"] == true,
        "{status}: {result}; stderr: {:?}",
        stderr.so_far()
    );
    (status, result)
}

/// Runs `browser_demo.js` on the demo page at `url` and checks what every run must show: the
/// text and the 1 MiB binary message echoed, permessage-deflate negotiated, the page closed
/// with 1000. Returns the script's result.
fn run_demo_page(peers: &Peers, url: &str, extra: &[&str]) -> serde_json::Value {
    let args: Vec<&str> = [url].into_iter().chain(extra.iter().copied()).collect();
    let (_, result) = run_browser_script(peers, "browser_demo.js", &args);
    assert_eq!(result["text_echoed"], true, "{result}");
    assert_eq!(result["binary_echo"], "identical", "{result}");
    let extensions = result["extensions"].as_str().unwrap_or_default();
    assert!(
        extensions.starts_with("permessage-deflate"),
        "the page negotiated {extensions:?}: {result}"
    );
    assert_eq!(result["closed"], "closed (code 1000)", "{result}");
    result
}

/// The server's two log lines for the page's one WebSocket: connected, then closed with 1000.
fn expect_one_websocket(server_log: &Lines, connected_as: &str) {
    let connected = server_log.next_within(TIMEOUT).expect("the server's log");
    assert!(connected.ends_with(connected_as), "{connected}");
    let closed = server_log.next_within(TIMEOUT).expect("the server's log");
    assert!(
        closed.ends_with(" closed with 1000 (normal closure)"),
        "{closed}"
    );
}

#[test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
fn demo_page_in_headless_chromium_echoes_text_and_1_mib_with_deflate() {
    let peers = Peers::get();
    let (_server, addr, server_log) = start_weft_serve(&[]);
    let result = run_demo_page(&peers, &format!("http://{addr}/"), &[]);
    assert_eq!(result["page_protocol"], "http/1.1", "{result}");
    // The server saw one connection, closed by the page with 1000.
    expect_one_websocket(&server_log, " connected to /");
}

/// A certificate for 127.0.0.1, written to files for `weft serve --tls-cert --tls-key`.
fn certificate_files(dir: &TempDir) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().expect("a key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("names");
    let cert = params.self_signed(&key).expect("a certificate");
    let (cert_path, key_path) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).expect("cert.pem");
    std::fs::write(&key_path, key.serialize_pem()).expect("key.pem");
    (cert_path, key_path)
}

#[test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
fn demo_page_over_http2_in_headless_chromium_opens_its_websocket_as_an_http2_stream() {
    let peers = Peers::get();
    let certs = TempDir::new("weft-h2-certs");
    let (cert, key) = certificate_files(&certs);
    let (_server, addr, server_log) = start_weft_serve(&[
        "--tls-cert",
        cert.to_str().expect("a UTF-8 path"),
        "--tls-key",
        key.to_str().expect("a UTF-8 path"),
    ]);
    let result = run_demo_page(
        &peers,
        &format!("https://{addr}/"),
        &["--ignore-https-errors"],
    );
    // The page came over HTTP/2 (ALPN h2), and the server says its WebSocket arrived as an
    // extended CONNECT stream of that connection, not as an HTTP/1.1 upgrade.
    assert_eq!(result["page_protocol"], "h2", "{result}");
    expect_one_websocket(&server_log, " connected to / over HTTP/2");
}

#[test]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
fn room_page_in_two_chromium_tabs_with_broadcast_shows_each_tab_the_other() {
    let peers = Peers::get();
    let (_server, addr, _server_log) = start_weft_serve(&["--broadcast"]);
    let url = format!("http://{addr}/");
    let (_, result) = run_browser_script(&peers, "browser_room.js", &[&url]);
    assert_eq!(result["mode"], "room", "{result}");
    assert_eq!(
        result["heard"],
        serde_json::json!([
            "and from the second: ünïcödé ✓ 日本語 🎉",
            "hello from the first tab"
        ]),
        "{result}"
    );
    assert_eq!(
        result["delivered"],
        serde_json::json!([true, true]),
        "{result}"
    );
    // The room compresses each message once for everyone: no context kept between messages.
    for extensions in result["extensions"].as_array().expect("extensions") {
        let extensions = extensions.as_str().unwrap_or_default();
        assert!(
            extensions.starts_with("permessage-deflate")
                && extensions.contains("server_no_context_takeover"),
            "{extensions:?}: {result}"
        );
    }
    assert_eq!(
        result["closed"],
        serde_json::json!(["closed (code 1000)", "closed (code 1000)"]),
        "{result}"
    );
}
