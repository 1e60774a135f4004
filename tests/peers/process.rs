//! Peer programs as child processes, shared by the test binaries that talk to real peers
//! (`tests/interop.rs`, `tests/http2_interop.rs`) through `#[path]`.

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use weft_harness::TIMEOUT;

use crate::peers::Peers;

/// The language of a peer program; both take the same command lines.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lang {
    /// `tests/peers/python/*.py`, run by the venv's Python.
    Python,
    /// `tests/peers/node/*.js`, run by Node.
    Node,
}

impl Lang {
    /// `python/PROGRAM.py` or `node/PROGRAM.js`, ready for arguments.
    fn command(self, peers: &Peers, program: &str) -> Command {
        let mut command = match self {
            Self::Python => {
                let mut command = Command::new(&peers.python);
                command
                    .arg(peers.program(&format!("python/{program}.py")))
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                command
            }
            Self::Node => {
                let mut command = Command::new("node");
                command
                    .arg(peers.program(&format!("node/{program}.js")))
                    .env("WEFT_PEERS_NODE_MODULES", &peers.node_modules);
                command
            }
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }
}

/// A peer program running as a child process, killed when dropped.
pub(crate) struct PeerProcess {
    pub(crate) name: String,
    pub(crate) child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Everything the child wrote to stderr so far, for failure messages.
    stderr: Arc<Mutex<String>>,
    /// The task collecting stderr; it ends when the child closes stderr.
    stderr_task: tokio::task::JoinHandle<()>,
}

impl PeerProcess {
    pub(crate) fn start(peers: &Peers, lang: Lang, program: &str, args: &[&str]) -> Self {
        let name = format!("{lang:?} {program} {}", args.join(" "));
        let mut child = lang
            .command(peers, program)
            .args(args)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name}: {err}"));
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let log = stderr.clone();
        let stderr_task = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Self {
            name,
            child,
            stdout,
            stderr,
            stderr_task,
        }
    }

    /// What the child wrote to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Everything the child wrote to stderr, once it has exited (waiting a little for that).
    pub(crate) async fn stderr_at_exit(&mut self) -> String {
        let pause = Duration::from_secs(2);
        let _ = tokio::time::timeout(pause, self.child.wait()).await;
        let _ = tokio::time::timeout(pause, &mut self.stderr_task).await;
        self.stderr()
    }

    /// The next line on stdout, within `timeout`.
    pub(crate) async fn line(&mut self, what: &str, timeout: Duration) -> String {
        match tokio::time::timeout(timeout, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => {
                let stderr = self.stderr_at_exit().await;
                panic!(
                    "{}: stdout ended before {what}; stderr:\n{stderr}",
                    self.name
                )
            }
            Ok(Err(err)) => panic!("{}: reading {what}: {err}", self.name),
            Err(_) => panic!(
                "{}: no {what} within {timeout:?}; stderr:\n{}",
                self.name,
                self.stderr()
            ),
        }
    }

    /// The next line on stdout as JSON.
    pub(crate) async fn json(&mut self, what: &str, timeout: Duration) -> Value {
        let line = self.line(what, timeout).await;
        serde_json::from_str(&line)
            .unwrap_or_else(|err| panic!("{}: {what} is not JSON ({err}): {line}", self.name))
    }

    /// Waits for the child to exit.
    pub(crate) async fn wait(&mut self) -> ExitStatus {
        tokio::time::timeout(TIMEOUT, self.child.wait())
            .await
            .expect("the peer exits in time")
            .unwrap_or_else(|err| panic!("{}: wait: {err}", self.name))
    }
}
