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

use super::corpus::Corpus;
use super::measurement::{CpuTicks, parse_stat, parse_status_kib};
use crate::cmd;
use crate::proc;

/// How a comparison server is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Program {
    /// A release example of `weft-benches` (`benches/examples/NAME.rs`).
    Example(&'static str),
    /// The `weft` command: `weft serve`, as users run it.
    WeftServe,
    /// Bun running a script of `benches/bun`, installed from npm into `target/bun`.
    Bun(&'static str),
}

/// Whether a server can run a kind of scenario, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Support {
    /// Yes, with these arguments added to its command line.
    Yes(&'static [&'static str]),
    /// No: the table says `n/a` and this reason.
    No(&'static str),
}

/// A comparison server: its name in tables, how it runs, and what it supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ServerKind {
    pub(super) name: &'static str,
    pub(super) program: Program,
    /// Source paths of the library's own code (its crates and the echo example), as parts of
    /// the paths in debug info, for `--instructions`.
    pub(super) sources: &'static [&'static str],
    /// Path prefixes of the library's own functions (its crates and the echo example), for
    /// `--instructions`: std and core code inlined into them is theirs too.
    pub(super) functions: &'static [&'static str],
    /// Arguments for the server after its listen address.
    pub(super) args: &'static [&'static str],
    /// `wss://` with the rustls settings every Rust server shares (`--tls CERT KEY`).
    pub(super) tls: Support,
    /// WebSockets over HTTP/2 (h2c).
    pub(super) http2: Support,
    /// permessage-deflate, at the library's defaults.
    pub(super) deflate: Support,
}

impl ServerKind {
    /// The example it runs, if it is one.
    pub(super) fn example(self) -> Option<&'static str> {
        match self.program {
            Program::Example(example) => Some(example),
            Program::WeftServe | Program::Bun(_) => None,
        }
    }
}

/// Rust servers answer `--tls CERT KEY` with the shared rustls settings.
const RUSTLS: Support = Support::Yes(&[]);
const NO_HTTP2: Support = Support::No("serves no WebSocket over HTTP/2 here");
/// The servers of the crates without permessage-deflate.
const NO_DEFLATE: Support = Support::No("no permessage-deflate in the crate");

/// The servers compared by default: weft with both echo loops, the Rust peers, and
/// uWebSockets through Bun.
pub(super) const SERVERS: [ServerKind; 8] = [
    WEFT,
    WEFT_SEND,
    ServerKind {
        name: "tungstenite",
        program: Program::Example("echo_tungstenite"),
        sources: &[
            "/tungstenite-",
            "/tokio-tungstenite-",
            "/examples/echo_tungstenite.rs",
        ],
        functions: &["tungstenite::", "tokio_tungstenite::", "echo_tungstenite::"],
        args: &[],
        tls: RUSTLS,
        http2: NO_HTTP2,
        deflate: NO_DEFLATE,
    },
    ServerKind {
        name: "fastwebsockets",
        program: Program::Example("echo_fastwebsockets"),
        sources: &["/fastwebsockets-", "/examples/echo_fastwebsockets.rs"],
        functions: &["fastwebsockets::", "echo_fastwebsockets::"],
        args: &[],
        tls: RUSTLS,
        http2: NO_HTTP2,
        deflate: NO_DEFLATE,
    },
    ServerKind {
        name: "tokio-websockets",
        program: Program::Example("echo_tokio_websockets"),
        sources: &["/tokio-websockets-", "/examples/echo_tokio_websockets.rs"],
        functions: &["tokio_websockets::", "echo_tokio_websockets::"],
        args: &[],
        tls: RUSTLS,
        http2: NO_HTTP2,
        deflate: NO_DEFLATE,
    },
    ServerKind {
        name: "sockudo-ws",
        program: Program::Example("echo_sockudo"),
        sources: &["/sockudo-ws-", "/examples/echo_sockudo.rs"],
        functions: &["sockudo_ws::", "echo_sockudo::"],
        args: &[],
        tls: RUSTLS,
        http2: NO_HTTP2,
        deflate: Support::Yes(&["--deflate"]),
    },
    ServerKind {
        name: "yawc",
        program: Program::Example("echo_yawc"),
        sources: &["/yawc-", "/examples/echo_yawc.rs"],
        functions: &["yawc::", "echo_yawc::"],
        args: &[],
        tls: RUSTLS,
        http2: NO_HTTP2,
        deflate: Support::Yes(&["--deflate"]),
    },
    BUN,
];

pub(super) const WEFT: ServerKind = ServerKind {
    name: "weft",
    program: Program::Example("echo_weft"),
    sources: &["/crates/weft", "/examples/echo_weft.rs"],
    functions: &["weft_", "echo_weft::"],
    args: &[],
    tls: RUSTLS,
    http2: Support::Yes(&[]),
    deflate: Support::Yes(&["--deflate"]),
};

/// weft echoing with `send` (a write and a flush per message), the loop the peers use; `weft`
/// itself echoes with `feed` (one write per batch of input).
pub(super) const WEFT_SEND: ServerKind = ServerKind {
    name: "weft-send",
    args: &["--send"],
    ..WEFT
};

/// uWebSockets through Bun (`Bun.serve`).
pub(super) const BUN: ServerKind = ServerKind {
    name: "bun",
    program: Program::Bun("echo.js"),
    sources: &[],
    functions: &[],
    args: &[],
    tls: Support::No("TLS by BoringSSL, not the rustls settings the others share"),
    http2: NO_HTTP2,
    deflate: Support::Yes(&["--deflate"]),
};

/// Servers that `--servers` may name besides the default ones: weft without keepalive shows
/// what the keepalive timer costs (the other servers have no timer); `floor`, an echo that only
/// decodes headers and unmasks, shows what tokio and the kernel cost by themselves; `weft
/// serve` as users run it (tokio's multi-thread runtime, pinned to one core: one worker); and
/// weft's echo with other permessage-deflate settings, for the frontier of server CPU against
/// wire bytes (the `-deflate` scenarios; elsewhere they are weft's echo unchanged).
pub(super) const EXTRA_SERVERS: [ServerKind; 9] = [
    ServerKind {
        name: "weft-no-keepalive",
        args: &["--no-keepalive"],
        ..WEFT
    },
    FLOOR,
    ServerKind {
        name: "weft-serve",
        program: Program::WeftServe,
        sources: &["/crates/weft"],
        functions: &["weft_"],
        args: &[],
        tls: Support::No("takes PEM files of its own, not the shared rustls settings"),
        http2: Support::Yes(&[]),
        // It accepts permessage-deflate unless told not to.
        deflate: Support::Yes(&[]),
    },
    deflate_setting("weft-level1", &["--deflate=level=1"]),
    deflate_setting("weft-level4", &["--deflate=level=4"]),
    deflate_setting("weft-level5", &["--deflate=level=5"]),
    deflate_setting("weft-window14", &["--deflate=window=14"]),
    // zlib's default memory level, which weft used before choosing 5.
    deflate_setting("weft-memory8", &["--deflate=memory=8"]),
    deflate_setting("weft-low-memory", &["--deflate=low-memory"]),
];

/// Whether the server named so is weft's echo with other permessage-deflate settings: it runs
/// the `-deflate` scenarios only (elsewhere it would be weft's row again).
pub(super) fn is_deflate_setting(name: &str) -> bool {
    EXTRA_SERVERS[3..].iter().any(|kind| kind.name == name)
}

/// weft's echo accepting permessage-deflate with `args` instead of the defaults.
const fn deflate_setting(name: &'static str, args: &'static [&'static str]) -> ServerKind {
    ServerKind {
        name,
        deflate: Support::Yes(args),
        ..WEFT
    }
}

/// The reference: not a library, so shown for comparison and never the best in a ratio.
pub(super) const FLOOR: ServerKind = ServerKind {
    name: "floor",
    program: Program::Example("echo_floor"),
    // Its header decoding and unmasking are weft-codec's, counted as its own work.
    sources: &[
        "/examples/echo_floor.rs",
        "/crates/weft-codec/src/mask",
        "/crates/weft-codec/src/frame",
    ],
    functions: &["echo_floor::", "weft_codec::mask::", "weft_codec::frame::"],
    args: &[],
    tls: RUSTLS,
    http2: NO_HTTP2,
    deflate: Support::No("a reference that checks nothing, without extensions"),
};

/// Whether the server named so is the reference, left out when finding the best.
pub(super) fn is_reference(name: &str) -> bool {
    name == FLOOR.name
}

/// A client of the client-side scenarios: a library of `examples/bench_client.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ClientKind {
    /// Its name in tables, and the library `bench_client` runs.
    pub(super) name: &'static str,
    /// Receiving pushed messages (every client can).
    pub(super) receive: Support,
    /// Receiving compressed messages.
    pub(super) deflate: Support,
}

/// The clients compared: weft's (and its `feed` loop when sending), and the Rust peers'.
pub(super) const CLIENTS: [ClientKind; 7] = [
    ClientKind {
        name: "weft",
        receive: Support::Yes(&[]),
        deflate: Support::Yes(&["--deflate"]),
    },
    ClientKind {
        name: "weft-feed",
        receive: Support::No("receives as weft does; sends with feed, a flush per 16"),
        deflate: Support::Yes(&["--deflate"]),
    },
    ClientKind {
        name: "tungstenite",
        receive: Support::Yes(&[]),
        deflate: NO_DEFLATE,
    },
    ClientKind {
        name: "fastwebsockets",
        receive: Support::Yes(&[]),
        deflate: NO_DEFLATE,
    },
    ClientKind {
        name: "tokio-websockets",
        receive: Support::Yes(&[]),
        deflate: NO_DEFLATE,
    },
    ClientKind {
        name: "yawc",
        receive: Support::Yes(&[]),
        deflate: Support::Yes(&["--deflate"]),
    },
    ClientKind {
        name: "sockudo-ws",
        receive: Support::Yes(&[]),
        deflate: Support::Yes(&["--deflate"]),
    },
];

/// Every server `--servers` knows.
pub(super) fn known_servers() -> impl Iterator<Item = ServerKind> {
    SERVERS.into_iter().chain(EXTRA_SERVERS)
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
    /// Each server's program, by name (for Bun: the `bun` binary).
    pub(super) servers: BTreeMap<&'static str, PathBuf>,
    /// Servers that cannot run here, and why (Bun could not be installed, say): their rows
    /// say `n/a` and the reason.
    pub(super) unavailable: BTreeMap<&'static str, String>,
    /// The client-side scenarios' server and clients (`examples/push_server.rs`,
    /// `examples/bench_client.rs`).
    pub(super) push_server: PathBuf,
    pub(super) bench_client: PathBuf,
    /// Where the corpora of the deflate scenarios are written.
    pub(super) corpus_dir: PathBuf,
    /// Pin with `taskset`; `None` runs unpinned (with a warning).
    pub(super) taskset: Option<PathBuf>,
    pub(super) clk_tck: u64,
    pub(super) logs: PathBuf,
    /// The throwaway certificates of the TLS scenarios.
    pub(super) tls: TlsFiles,
}

impl Host {
    /// The file of `corpus` (written by [`write_corpora`](Self::write_corpora)).
    pub(super) fn corpus(&self, corpus: Corpus) -> PathBuf {
        self.corpus_dir.join(corpus.file_name())
    }

    /// Writes every corpus into `corpus_dir`.
    pub(super) fn write_corpora(&self) -> Result<(), String> {
        fs::create_dir_all(&self.corpus_dir)
            .map_err(|err| format!("cannot create {}: {err}", self.corpus_dir.display()))?;
        for corpus in [Corpus::Json, Corpus::Document] {
            let path = self.corpus(corpus);
            fs::write(&path, corpus.generate())
                .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
        }
        Ok(())
    }
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

/// What [`build`] made: `weft`, the certificate writer, each server's program and the servers
/// that cannot run.
pub(super) struct Built {
    pub(super) weft: PathBuf,
    pub(super) tls_cert: PathBuf,
    /// Every example built, by name.
    pub(super) examples: BTreeMap<String, PathBuf>,
    pub(super) servers: BTreeMap<&'static str, PathBuf>,
    pub(super) unavailable: BTreeMap<&'static str, String>,
    /// Bun's version, when a Bun server is compared.
    pub(super) bun_version: Option<String>,
}

/// Builds the servers, `weft` and the certificate writer (`tls_cert`) in release mode, and
/// installs Bun when a Bun server is compared (a failure there makes Bun's rows `n/a`, not the
/// run fail).
pub(super) fn build(servers: &[ServerKind], extra_examples: &[&str]) -> Result<Built, String> {
    let started = Instant::now();
    // `compare`: the other libraries' servers and clients are behind it.
    let mut args: Vec<String> = [
        "build",
        "--release",
        "-p",
        "weft-benches",
        "--features",
        "compare",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut examples: Vec<&str> = servers
        .iter()
        .filter_map(|server| server.example())
        .collect();
    examples.push("tls_cert");
    examples.extend(extra_examples);
    examples.sort_unstable();
    examples.dedup();
    for example in examples {
        args.push("--example".to_owned());
        args.push(example.to_owned());
    }
    args.extend(["-p", "weft-cli", "--bin", "weft"].map(str::to_owned));
    let executables = cargo_build(&args, "the comparison")?;
    let find = |name: &str| built(&executables, name);
    let weft = find("weft")?;
    let mut built = Built {
        tls_cert: find("tls_cert")?,
        examples: executables.clone(),
        servers: BTreeMap::new(),
        unavailable: BTreeMap::new(),
        bun_version: None,
        weft: weft.clone(),
    };
    for &server in servers {
        match server.program {
            Program::Example(example) => {
                built.servers.insert(server.name, find(example)?);
            }
            Program::WeftServe => {
                built.servers.insert(server.name, weft.clone());
            }
            Program::Bun(_) => match super::bun::ensure() {
                Ok((bun, version)) => {
                    built.servers.insert(server.name, bun);
                    built.bun_version = Some(version);
                }
                Err(why) => {
                    eprintln!("bench: {}: n/a, {why}", server.name);
                    built
                        .unavailable
                        .insert(server.name, format!("Bun could not be installed: {why}"));
                }
            },
        }
    }
    eprintln!("bench: built in {}", proc::secs(started.elapsed()));
    Ok(built)
}

/// Runs `cargo ARGS` (a build) with JSON messages, and returns what it built: target name →
/// executable. `what` names the build in errors.
pub(crate) fn cargo_build(
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
pub(crate) fn built(
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
        options: &[String],
    ) -> Result<Self, String> {
        Self::start_under(host, kind, scenario, tls, options, None)
    }

    /// As [`start`](Self::start), run by `wrapper` (a program and its arguments, followed by
    /// the server's command line), as `valgrind` runs it for `--instructions`. `options` go
    /// after the server's own arguments (`--deflate`, say).
    pub(super) fn start_under(
        host: &Host,
        server_kind: ServerKind,
        scenario: &str,
        tls: bool,
        options: &[String],
        wrapper: Option<(&Path, &[String])>,
    ) -> Result<Self, String> {
        let kind = server_kind.name;
        if let Some(why) = host.unavailable.get(kind) {
            return Err(format!("n/a: {why}"));
        }
        let server = &host.servers[kind];
        let log = host.logs.join(format!("{kind}-{scenario}.log"));
        let log_file = fs::File::create(&log)
            .map_err(|err| format!("cannot create {}: {err}", log.display()))?;
        let listen = "127.0.0.1:0".to_owned();
        let mut command_line = match server_kind.program {
            Program::Example(_) => vec![listen],
            Program::WeftServe => ["serve", "--quiet", "--listen", &listen]
                .map(str::to_owned)
                .to_vec(),
            Program::Bun(script) => {
                let script = cmd::workspace_root().join("benches/bun").join(script);
                vec![script.display().to_string(), listen]
            }
        };
        command_line.extend(server_kind.args.iter().map(|&arg| arg.to_owned()));
        command_line.extend(options.iter().cloned());
        if tls {
            command_line.push("--tls".to_owned());
            command_line.push(host.tls.cert.display().to_string());
            command_line.push(host.tls.key.display().to_string());
        }
        let (program, args) = match wrapper {
            Some((program, args)) => {
                let mut args = args.to_vec();
                args.push(server.display().to_string());
                args.extend(command_line);
                (program, args)
            }
            None => (server.as_path(), command_line),
        };
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
        let addr = banner.as_deref().and_then(banner_address).ok_or_else(|| {
            format!(
                "the {kind} server did not say `listening on ADDR` within {} (got {banner:?}); \
                 last lines of {}:\n{}",
                proc::secs(BANNER_TIMEOUT),
                log.display(),
                proc::tail(&log, 10)
            )
        })?;
        let scheme = if tls { "wss" } else { "ws" };
        server.url = format!("{scheme}://{addr}");
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
        self.status_kib("VmRSS")
    }

    /// The most resident memory so far (`VmHWM`), KiB.
    pub(super) fn peak_rss_kib(&self) -> Result<u64, String> {
        self.status_kib("VmHWM")
    }

    fn status_kib(&self, key: &str) -> Result<u64, String> {
        let path = format!("/proc/{}/status", self.pid());
        let status =
            fs::read_to_string(&path).map_err(|err| format!("cannot read {path}: {err}"))?;
        parse_status_kib(&status, key).ok_or_else(|| format!("no {key} in {path}"))
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

/// The address a server's first line announces: `listening on 127.0.0.1:PORT` (the examples,
/// Bun) or `weft: listening on ws://127.0.0.1:PORT (demo page: …)` (`weft serve`).
pub(super) fn banner_address(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("listening on ")?;
    let address = rest.split_whitespace().next()?;
    let address = address
        .strip_prefix("ws://")
        .or_else(|| address.strip_prefix("wss://"))
        .unwrap_or(address);
    (!address.is_empty()).then(|| address.to_owned())
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
    fn every_banner_names_its_address() {
        assert_eq!(
            banner_address("listening on 127.0.0.1:9101").as_deref(),
            Some("127.0.0.1:9101")
        );
        assert_eq!(
            banner_address(
                "weft: listening on ws://127.0.0.1:41234 (demo page: http://127.0.0.1:41234/)"
            )
            .as_deref(),
            Some("127.0.0.1:41234")
        );
        assert_eq!(banner_address("Started"), None);
        assert_eq!(banner_address("listening on "), None);
    }

    #[test]
    fn server_names_are_unique_and_the_defaults_hold_both_weft_loops() {
        let names: Vec<&str> = known_servers().map(|server| server.name).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(SERVERS.contains(&WEFT) && SERVERS.contains(&WEFT_SEND));
        assert_eq!(WEFT_SEND.example(), Some("echo_weft"));
        assert_eq!(BUN.example(), None);
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
