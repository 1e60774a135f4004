//! Proxy servers from Debian, started for one test on a loopback port and stopped with it:
//! tinyproxy (HTTP `CONNECT`), microsocks and dante-server (SOCKS5). Shared by
//! `tests/proxy.rs` and `crates/weft-cli/tests/proxy.rs` through `#[path]`, like `peers.rs`.
//!
//! None of them can report a port the OS chose, so each gets one the OS handed out a moment
//! before (bound and released); if another process took it meanwhile, the proxy exits and
//! is started again on a fresh one. Each runs in a process group of its own (dante forks),
//! which is stopped when the [`ProxyServer`] is dropped: SIGTERM, then SIGKILL after a few
//! seconds. Every wait is bounded.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::peers::Peers;

/// How long a proxy may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a proxy may take to stop on SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Ports tried before giving up (each try can only fail if another process took the port).
const ATTEMPTS: usize = 5;

/// What tinyproxy is set up with.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tinyproxy {
    /// `BasicAuth user password`: clients must send these.
    pub(crate) basic_auth: Option<(&'static str, &'static str)>,
    /// `ConnectPort`: the only ports `CONNECT` may reach (none listed: any port).
    pub(crate) connect_ports: Vec<u16>,
}

/// A proxy server running for a test.
#[derive(Debug)]
pub(crate) struct ProxyServer {
    name: &'static str,
    child: Child,
    port: u16,
    dir: PathBuf,
}

#[allow(dead_code, reason = "each test binary uses some of the proxies")]
impl ProxyServer {
    /// tinyproxy, as `http://127.0.0.1:PORT`.
    pub(crate) fn tinyproxy(peers: &Peers, settings: &Tinyproxy) -> Self {
        Self::start("tinyproxy", |port, dir| {
            let mut config = format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 100\nAllow 127.0.0.1\n\
                 LogLevel Info\nLogFile \"{}\"\n",
                dir.join("log").display()
            );
            if let Some((user, password)) = settings.basic_auth {
                config.push_str(&format!("BasicAuth {user} {password}\n"));
            }
            for port in &settings.connect_ports {
                config.push_str(&format!("ConnectPort {port}\n"));
            }
            let path = write(dir, "tinyproxy.conf", &config);
            let mut command = Command::new(&peers.tinyproxy);
            command.arg("-d").arg("-c").arg(path);
            command
        })
    }

    /// microsocks, as `socks5h://127.0.0.1:PORT`; with `credentials`, clients must log in.
    pub(crate) fn microsocks(peers: &Peers, credentials: Option<(&str, &str)>) -> Self {
        Self::start("microsocks", |port, _dir| {
            let mut command = Command::new(&peers.microsocks);
            command.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
            if let Some((user, password)) = credentials {
                command.args(["-u", user, "-P", password]);
            }
            command
        })
    }

    /// dante-server, as `socks5h://127.0.0.1:PORT`, without authentication; connections to
    /// `blocked` (an address) are refused by its rules.
    pub(crate) fn dante(peers: &Peers, blocked: &str) -> Self {
        Self::start("danted", |port, dir| {
            let config = format!(
                "logoutput: {log}\n\
                 internal: 127.0.0.1 port = {port}\n\
                 external: 127.0.0.1\n\
                 socksmethod: none\n\
                 clientmethod: none\n\
                 client pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n}}\n\
                 socks block {{\n  from: 0.0.0.0/0 to: {blocked}/32\n}}\n\
                 socks pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  command: connect\n}}\n",
                log = dir.join("log").display()
            );
            let path = write(dir, "danted.conf", &config);
            let mut command = Command::new(&peers.danted);
            command
                .arg("-f")
                .arg(path)
                .arg("-p")
                .arg(dir.join("danted.pid"));
            command
        })
    }

    /// The port it listens on, at 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `scheme://127.0.0.1:PORT`, with `user:password@` when given.
    pub(crate) fn url(&self, scheme: &str, credentials: Option<(&str, &str)>) -> String {
        match credentials {
            Some((user, password)) => {
                format!("{scheme}://{user}:{password}@127.0.0.1:{}", self.port)
            }
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// What the proxy logged, for a failing test's message.
    pub(crate) fn log(&self) -> String {
        let mut log = String::new();
        for name in ["log", "stderr"] {
            if let Ok(text) = std::fs::read_to_string(self.dir.join(name)) {
                log.push_str(&text);
            }
        }
        log
    }

    fn start(name: &'static str, command: impl Fn(u16, &Path) -> Command) -> Self {
        let dir = scratch_dir(name);
        let mut last_log = String::new();
        for _ in 0..ATTEMPTS {
            let port = free_port();
            let stderr = std::fs::File::create(dir.join("stderr")).expect("create the log");
            let child = command(port, &dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|err| panic!("cannot start {name}: {err}"));
            let mut server = ProxyServer {
                name,
                child,
                port,
                dir: dir.clone(),
            };
            if server.wait_until_listening() {
                return server;
            }
            last_log = server.log();
            // Dropping it stops it; the next attempt takes another port.
        }
        panic!("{name} did not start listening within {START_TIMEOUT:?}: {last_log}");
    }

    /// Whether the proxy accepts connections (false if it exited, e.g. the port was taken).
    fn wait_until_listening(&mut self) -> bool {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        self.signal_group("-TERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut stopped = false;
        while !stopped && Instant::now() < deadline {
            stopped = matches!(self.child.try_wait(), Ok(Some(_)));
            if !stopped {
                thread::sleep(Duration::from_millis(20));
            }
        }
        if !stopped {
            eprintln!("{} did not stop on SIGTERM; killing it", self.name);
        }
        // Whatever is left of the group (dante's children included).
        self.signal_group("-KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port the OS just handed out on 127.0.0.1, released for the proxy to take.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A fresh directory for one proxy's configuration and log.
fn scratch_dir(name: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "weft-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a configuration file");
    path
}
