//! `weft bench` end to end against `weft serve` on a free port: every message echoed, the
//! figures in the JSON line, and a one-line error when nothing listens. No timing is
//! asserted; every wait is bounded by [`TIMEOUT`].

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The longest any step may take; generous for a loaded CI machine.
const TIMEOUT: Duration = Duration::from_secs(60);

fn weft() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weft"))
}

/// A running `weft serve --listen 127.0.0.1:0 --quiet`, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start() -> Self {
        Self::start_with(&[])
    }

    fn start_with(args: &[&str]) -> Self {
        let mut child = weft()
            .args(["serve", "--listen", "127.0.0.1:0", "--quiet"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start weft serve");
        let stdout = child.stdout.take().expect("stdout");
        let banner = first_line(stdout).expect("the banner of weft serve");
        // weft: listening on ws://127.0.0.1:PORT (demo page: ...)
        let url = banner
            .strip_prefix("weft: listening on ")
            .and_then(|rest| rest.split_once(' '))
            .map(|(url, _)| url.to_owned())
            .unwrap_or_else(|| panic!("unexpected banner {banner:?}"));
        Self { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first line a pipe delivers within [`TIMEOUT`]; the rest is drained on the thread.
fn first_line(pipe: impl Read + Send + 'static) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(pipe).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for _ in lines {}
    });
    rx.recv_timeout(TIMEOUT).ok()
}

/// Runs `weft ARGS…` to the end (killed after [`TIMEOUT`]).
fn run(args: &[&str]) -> Output {
    let mut child = weft()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weft bench");
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("weft {args:?} did not finish within {TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn json(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {output:?}");
    serde_json::from_str(lines[0]).unwrap_or_else(|err| panic!("{err}: {}", lines[0]))
}

#[test]
fn every_message_is_echoed_and_reported_as_json() {
    let server = Server::start();
    let output = run(&[
        "bench",
        &server.url,
        "--messages",
        "200",
        "--connections",
        "3",
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let report = json(&output);
    assert_eq!(report["url"], server.url.as_str());
    assert_eq!(report["connections"], 3);
    assert_eq!(report["size"], 20);
    assert_eq!(report["text"], false);
    assert_eq!(report["deflate"], false);
    assert_eq!(report["sent"], 200);
    assert_eq!(report["echoed"], 200);
    assert_eq!(report["lost"], 0);
    assert_eq!(report["errors"], 0);
    assert_eq!(report["first_error"], Value::Null);
    assert!(report["messages_per_s"].as_f64().unwrap() > 0.0, "{report}");
    assert!(report["mb_per_s"].as_f64().unwrap() > 0.0, "{report}");
    let latency = &report["latency_us"];
    let p50 = latency["p50"].as_f64().unwrap();
    let p99 = latency["p99"].as_f64().unwrap();
    let max = latency["max"].as_f64().unwrap();
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{latency}");
}

#[test]
fn text_pipelined_and_compressed_echoes_come_back_too() {
    let server = Server::start();
    let output = run(&[
        "bench",
        &server.url,
        "--messages",
        "300",
        "--connections",
        "2",
        "--size",
        "16KiB",
        "--text",
        "--window",
        "8",
        "--deflate",
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let report = json(&output);
    assert_eq!(report["echoed"], 300);
    assert_eq!(report["errors"], 0);
    assert_eq!(report["size"], 16384);
    assert_eq!(report["text"], true);
    assert_eq!(report["deflate"], true);
}

#[test]
fn nothing_listening_is_one_clear_line() {
    let output = run(&["bench", "ws://127.0.0.1:1", "--messages", "1"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("weft: connection 1 of 1: cannot connect to 127.0.0.1:1"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn a_run_the_server_closed_shows_the_close_and_no_statistics() {
    let server = Server::start_with(&["--max-message-size", "16"]);
    let output = run(&["bench", &server.url, "--size", "100", "--messages", "3"]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with(
            "weft: bench failed: no echo came back: the server closed the connection with 1009 \
             (message too big)"
        ),
        "{stderr}"
    );
    // Nothing was measured, so there is no report of zeros.
    assert!(output.stdout.is_empty(), "{output:?}");

    // A script asking for JSON still gets its line, with the reason in it.
    let output = run(&[
        "bench",
        &server.url,
        "--size",
        "100",
        "--messages",
        "3",
        "--json",
    ]);
    assert!(!output.status.success());
    let report = json(&output);
    assert_eq!(report["echoed"], 0);
    assert!(
        report["first_error"]
            .as_str()
            .is_some_and(|error| error.contains("1009 (message too big)")),
        "{report}"
    );
}
