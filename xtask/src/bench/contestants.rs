//! The contestants: which servers run, how they are built (release examples of
//! `weft-benches`, and the `weft` command), and how each is started and stopped.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::measurement::{CpuTicks, parse_stat, parse_status_kib};
use crate::proc;

/// A comparison server: its name in tables, and its example in `benches/examples`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ServerKind {
    pub(super) name: &'static str,
    pub(super) example: &'static str,
    /// Source paths of the library's own code (its crates and the echo example), as parts of
    /// the paths in debug info, for `--instructions`.
    pub(super) sources: &'static [&'static str],
    /// Path prefixes of the library's own functions (its crates and the echo example), for
    /// `--instructions`: std and core code inlined into them is theirs too.
    pub(super) functions: &'static [&'static str],
    /// Arguments for the server after its listen address.
    pub(super) args: &'static [&'static str],
}

/// The servers compared by default.
pub(super) const SERVERS: [ServerKind; 4] = [
    WEFT,
    ServerKind {
        name: "tungstenite",
        example: "echo_tungstenite",
        sources: &[
            "/tungstenite-",
            "/tokio-tungstenite-",
            "/examples/echo_tungstenite.rs",
        ],
        functions: &["tungstenite::", "tokio_tungstenite::", "echo_tungstenite::"],
        args: &[],
    },
    ServerKind {
        name: "fastwebsockets",
        example: "echo_fastwebsockets",
        sources: &["/fastwebsockets-", "/examples/echo_fastwebsockets.rs"],
        functions: &["fastwebsockets::", "echo_fastwebsockets::"],
        args: &[],
    },
    ServerKind {
        name: "tokio-websockets",
        example: "echo_tokio_websockets",
        sources: &["/tokio-websockets-", "/examples/echo_tokio_websockets.rs"],
        functions: &["tokio_websockets::", "echo_tokio_websockets::"],
        args: &[],
    },
];

pub(super) const WEFT: ServerKind = ServerKind {
    name: "weft",
    example: "echo_weft",
    sources: &["/crates/weft", "/examples/echo_weft.rs"],
    functions: &["weft_", "echo_weft::"],
    args: &[],
};

/// Servers that `--servers` may name besides the default ones: weft without keepalive shows
/// what the keepalive timer costs (the other servers have no timer); `floor`, an echo that only
/// decodes headers and unmasks, shows what tokio and the kernel cost by themselves.
pub(super) const EXTRA_SERVERS: [ServerKind; 2] = [
    ServerKind {
        name: "weft-no-keepalive",
        args: &["--no-keepalive"],
        ..WEFT
    },
    FLOOR,
];

/// The reference: not a library, so shown for comparison and never the best in a ratio.
pub(super) const FLOOR: ServerKind = ServerKind {
    name: "floor",
    example: "echo_floor",
    // Its header decoding and unmasking are weft-codec's, counted as its own work.
    sources: &[
        "/examples/echo_floor.rs",
        "/crates/weft-codec/src/mask",
        "/crates/weft-codec/src/frame",
    ],
    functions: &["echo_floor::", "weft_codec::mask::", "weft_codec::frame::"],
    args: &[],
};

/// Whether the server named so is the reference, left out when finding the best.
pub(super) fn is_reference(name: &str) -> bool {
    name == FLOOR.name
}

/// The cores servers and the client are pinned to.
pub(super) const SERVER_CORE: usize = 0;
pub(super) const CLIENT_CORE: usize = 1;
/// Bounds on each step, so a hung server or client cannot stall the task.
pub(super) const BANNER_TIMEOUT: Duration = Duration::from_secs(30);
pub(super) const IDLE_READY_TIMEOUT: Duration = Duration::from_secs(300);
/// `weft bench` gets this long beyond its duration (drain, close, connecting).
pub(super) const RUN_GRACE: Duration = Duration::from_secs(60);

/// What the comparison needs from the host.
pub(super) struct Host {
    pub(super) weft: PathBuf,
    /// `examples/fault_proxy.rs`, for the lossy scenario.
    pub(super) fault_proxy: PathBuf,
    pub(super) servers: BTreeMap<&'static str, PathBuf>,
    /// Pin with `taskset`; `None` runs unpinned (with a warning).
    pub(super) taskset: Option<PathBuf>,
    pub(super) clk_tck: u64,
    pub(super) logs: PathBuf,
    /// The throwaway certificates of the TLS scenarios.
    pub(super) tls: TlsFiles,
}

/// The PEM files `examples/tls_cert.rs` writes: the CA `weft bench --ca` trusts, and the
/// certificate and key every server's `--tls` takes.
pub(crate) struct TlsFiles {
    pub(crate) ca: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

impl TlsFiles {
    /// Runs `tls_cert` (built with the servers) to write new certificates into `dir`; it
    /// prints their paths.
    pub(crate) fn generate(tls_cert: &Path, dir: &Path) -> Result<Self, String> {
        let output = Command::new(tls_cert)
            .arg(dir)
            .output()
            .map_err(|err| format!("could not run {}: {err}", tls_cert.display()))?;
        if !output.status.success() {
            return Err(format!(
                "writing the TLS certificates failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Self::from_paths(&String::from_utf8_lossy(&output.stdout))
            .ok_or_else(|| format!("{} did not print three paths", tls_cert.display()))
    }

    /// The CA, certificate and key paths, one per line.
    pub(super) fn from_paths(printed: &str) -> Option<Self> {
        let mut lines = printed.lines().map(PathBuf::from);
        Some(Self {
            ca: lines.next()?,
            cert: lines.next()?,
            key: lines.next()?,
        })
    }
}

/// The executables of the comparison.
pub(super) struct Built {
    pub(super) weft: PathBuf,
    pub(super) servers: BTreeMap<&'static str, PathBuf>,
    pub(super) tls_cert: PathBuf,
    pub(super) fault_proxy: PathBuf,
}

/// Builds the servers, `weft`, the certificate writer (`tls_cert`) and the proxy of the lossy
/// scenario (`fault_proxy`) in release mode; returns their executables.
pub(super) fn build(servers: &[ServerKind]) -> Result<Built, String> {
    let started = Instant::now();
    let mut args: Vec<String> = ["build", "--release", "-p", "weft-benches"]
        .map(str::to_owned)
        .to_vec();
    let mut examples: Vec<&str> = servers.iter().map(|server| server.example).collect();
    examples.extend(["tls_cert", "fault_proxy"]);
    examples.sort_unstable();
    examples.dedup();
    for example in examples {
        args.push("--example".to_owned());
        args.push(example.to_owned());
    }
    args.extend(["-p", "weft-cli", "--bin", "weft"].map(str::to_owned));
    let executables = cargo_build(&args, "the comparison")?;
    let find = |name: &str| built(&executables, name);
    let mut built = BTreeMap::new();
    for server in servers {
        built.insert(server.name, find(server.example)?);
    }
    eprintln!("bench: built in {}", proc::secs(started.elapsed()));
    Ok(Built {
        weft: find("weft")?,
        servers: built,
        tls_cert: find("tls_cert")?,
        fault_proxy: find("fault_proxy")?,
    })
}

/// Runs `cargo ARGS` (a build) with JSON messages, and returns what it built: target name →
/// executable. `what` names the build in errors.
pub(super) fn cargo_build(
    args: &[String],
    what: &str,
) -> Result<BTreeMap<String, PathBuf>, String> {
    let mut args = args.to_vec();
    args.push("--message-format=json-render-diagnostics".to_owned());
    eprintln!("$ cargo {}", args.join(" "));
    let output = Command::new("cargo")
        .args(&args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("could not start cargo: {err}"))?;
    if !output.status.success() {
        return Err(format!("building {what} failed ({})", output.status));
    }
    Ok(executables(&String::from_utf8_lossy(&output.stdout)))
}

/// The executable cargo built for target `name`.
pub(super) fn built(
    executables: &BTreeMap<String, PathBuf>,
    name: &str,
) -> Result<PathBuf, String> {
    executables
        .get(name)
        .cloned()
        .ok_or_else(|| format!("cargo built no executable for {name}"))
}

/// Target name → executable, from cargo's JSON messages.
pub(crate) fn executables(messages: &str) -> BTreeMap<String, PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter_map(|message| {
            let name = message["target"]["name"].as_str()?.to_owned();
            let path = message["executable"].as_str()?;
            Some((name, PathBuf::from(path)))
        })
        .collect()
}

/// `sh -c 'ulimit -n HARD; exec [taskset -c CORE] PROGRAM ARGS…'`.
pub(super) fn pinned(
    taskset: Option<&Path>,
    core: usize,
    program: &Path,
    args: &[String],
) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@""#)
        .arg("sh");
    if let Some(taskset) = taskset {
        command.arg(taskset).arg("-c").arg(core.to_string());
    }
    command.arg(program).args(args);
    command
}

/// A running echo server, killed when dropped.
pub(super) struct ServerProcess {
    pub(super) name: &'static str,
    pub(super) child: Child,
    pub(super) url: String,
}

impl ServerProcess {
    /// Starts `kind` on a free loopback port (it prints the port) with its log in `logs`,
    /// serving `wss://` with the host's certificates when `tls`.
    pub(super) fn start(
        host: &Host,
        kind: ServerKind,
        scenario: &str,
        tls: bool,
    ) -> Result<Self, String> {
        Self::start_under(host, kind, scenario, tls, None)
    }

    /// As [`start`](Self::start), run by `wrapper` (a program and its arguments, followed by
    /// the server's command line), as `valgrind` runs it for `--instructions`.
    pub(super) fn start_under(
        host: &Host,
        server_kind: ServerKind,
        scenario: &str,
        tls: bool,
        wrapper: Option<(&Path, &[String])>,
    ) -> Result<Self, String> {
        let kind = server_kind.name;
        let server = &host.servers[kind];
        let log = host.logs.join(format!("{kind}-{scenario}.log"));
        let log_file = fs::File::create(&log)
            .map_err(|err| format!("cannot create {}: {err}", log.display()))?;
        let listen = "127.0.0.1:0".to_owned();
        let (program, mut args) = match wrapper {
            Some((program, args)) => {
                let mut args = args.to_vec();
                args.extend([server.display().to_string(), listen]);
                (program, args)
            }
            None => (server.as_path(), vec![listen]),
        };
        args.extend(server_kind.args.iter().map(|&arg| arg.to_owned()));
        if tls {
            args.push("--tls".to_owned());
            args.push(host.tls.cert.display().to_string());
            args.push(host.tls.key.display().to_string());
        }
        let mut child = pinned(host.taskset.as_deref(), SERVER_CORE, program, &args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|err| format!("could not start the {kind} server: {err}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let banner = first_line(stdout, BANNER_TIMEOUT);
        let mut server = Self {
            name: kind,
            child,
            url: String::new(),
        };
        let addr = banner
            .as_deref()
            .and_then(|line| line.strip_prefix("listening on "))
            .ok_or_else(|| {
                format!(
                    "the {kind} server did not say `listening on ADDR` within {} (got {banner:?}); \
                     last lines of {}:\n{}",
                    proc::secs(BANNER_TIMEOUT),
                    log.display(),
                    proc::tail(&log, 10)
                )
            })?;
        let scheme = if tls { "wss" } else { "ws" };
        server.url = format!("{scheme}://{}", addr.trim());
        Ok(server)
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time so far, in clock ticks.
    pub(super) fn cpu(&self) -> Result<CpuTicks, String> {
        let path = format!("/proc/{}/stat", self.pid());
        let stat = fs::read_to_string(&path).map_err(|err| format!("cannot read {path}: {err}"))?;
        parse_stat(&stat).ok_or_else(|| format!("cannot parse {path}: {stat}"))
    }

    /// Resident memory, KiB.
    pub(super) fn rss_kib(&self) -> Result<u64, String> {
        let path = format!("/proc/{}/status", self.pid());
        let status =
            fs::read_to_string(&path).map_err(|err| format!("cannot read {path}: {err}"))?;
        parse_status_kib(&status, "VmRSS").ok_or_else(|| format!("no VmRSS in {path}"))
    }

    /// Stops the server with SIGTERM and waits for it to exit (valgrind writes its profile
    /// then), killing it after `timeout`.
    pub(super) fn terminate(&mut self, timeout: Duration) -> Result<(), String> {
        proc::send_sigterm(self.pid());
        match proc::wait_for_exit(&mut self.child, Instant::now() + timeout) {
            Some(_) => Ok(()),
            None => Err(format!(
                "the {} server did not exit within {} of SIGTERM",
                self.name,
                proc::secs(timeout)
            )),
        }
    }

    pub(super) fn exited(&mut self) -> Option<String> {
        self.child
            .try_wait()
            .ok()
            .flatten()
            .map(|status| format!("the {} server exited ({status})", self.name))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `examples/fault_proxy.rs` in front of a server, for the lossy scenario; killed when dropped.
pub(super) struct FaultProxyProcess(Child);

impl FaultProxyProcess {
    /// Starts the proxy with `network` (its arguments) in front of the server at `url`, on the
    /// client's core; returns it and the URL clients should use instead.
    pub(super) fn start(
        host: &Host,
        url: &str,
        network: &[&str],
    ) -> Result<(Self, String), String> {
        let (scheme, addr) = url
            .split_once("://")
            .ok_or_else(|| format!("no address in {url}"))?;
        let mut args = vec![addr.to_owned()];
        args.extend(network.iter().map(|&arg| arg.to_owned()));
        let mut child = pinned(
            host.taskset.as_deref(),
            CLIENT_CORE,
            &host.fault_proxy,
            &args,
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("could not start the fault proxy: {err}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let proxy = Self(child);
        let banner = first_line(stdout, BANNER_TIMEOUT);
        let listening = banner
            .as_deref()
            .and_then(|line| line.strip_prefix("listening on "))
            .ok_or_else(|| format!("the fault proxy said {banner:?}"))?
            .trim()
            .to_owned();
        Ok((proxy, format!("{scheme}://{listening}")))
    }
}

impl Drop for FaultProxyProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first line of a pipe within `timeout`; the rest is drained (and dropped) on the thread.
pub(crate) fn first_line(pipe: impl Read + Send + 'static, timeout: Duration) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(pipe).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for _ in lines {}
    });
    rx.recv_timeout(timeout).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_paths_are_read_in_order() {
        let files = TlsFiles::from_paths("/t/ca.pem\n/t/cert.pem\n/t/key.pem\n").unwrap();
        assert_eq!(
            [files.ca, files.cert, files.key],
            ["/t/ca.pem", "/t/cert.pem", "/t/key.pem"].map(PathBuf::from)
        );
        assert!(TlsFiles::from_paths("/t/ca.pem\n/t/cert.pem\n").is_none());
    }

    #[test]
    fn executables_are_found_by_target_name() {
        let messages = r#"{"reason":"compiler-artifact","target":{"name":"weft"},"executable":"/t/release/weft"}
{"reason":"compiler-artifact","target":{"name":"bytes"},"executable":null}
{"reason":"build-finished","success":true}"#;
        let found = executables(messages);
        assert_eq!(found.len(), 1);
        assert_eq!(found["weft"], PathBuf::from("/t/release/weft"));
    }
}
