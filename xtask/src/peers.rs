//! `cargo xtask peers`: installs the real WebSocket implementations the interop tests talk to,
//! into `target/peers/` of the workspace (never by hand, never outside `target/`):
//!
//! - `target/peers/python`: a venv with the latest `websockets`, `hypercorn` (WebSocket over
//!   HTTP/1.1 and HTTP/2) and `h2` (a raw HTTP/2 client) from PyPI;
//! - `target/peers/node`: the latest `ws` and `playwright-core` from npm (playwright's own
//!   browser download is disabled; the browser is Debian's `chromium` at `/usr/bin/chromium`);
//! - Debian's `chromium`, `tinyproxy` (an HTTP CONNECT proxy), `dante-server` and `microsocks`
//!   (SOCKS5 proxies) and `redis-server`, installed with apt-get when missing and running as
//!   root. Their services are not started: the tests start their own on loopback ports.
//!
//! Each part has a stamp (`.weft-peers-stamp`) naming what was asked for and what got
//! installed; a run with every stamp current does nothing. `--refresh` upgrades to the latest
//! releases, `--check` only reports (exit 1 when something is missing). The peer programs
//! that use these installs live in `tests/peers/`.
//!
//! This is Rust in xtask rather than a shell script so there is one entry point for project
//! tasks (STYLE.md section 12), with the same command echoing, timing and error style as
//! `cargo xtask autobahn`, and nothing to keep portable between shells.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::cmd::{self, Cmd};
use crate::proc;

pub(crate) const USAGE: &str = "\
usage: cargo xtask peers [--refresh] [--check] [--no-debian]

Installs the interop peers into target/peers/: Python `websockets`, `hypercorn` and `h2`
(venv in target/peers/python) and Node `ws` + `playwright-core` (target/peers/node); and the
Debian packages the tests start on loopback when they are missing (needs root): chromium,
tinyproxy, dante-server, microsocks, redis-server. Idempotent: a second run only checks the
stamps and the programs.

options:
  --refresh      reinstall at the latest releases even if the stamps are current
  --check        install nothing; exit 1 if a part is missing or stale
  --no-debian    leave the Debian packages alone
";

/// The PyPI packages of the Python part.
const PYTHON_PACKAGES: [&str; 3] = ["websockets", "hypercorn", "h2"];
/// What the stamp of the Python part records as the request.
const PYTHON_REQUEST: &str = "python: websockets, hypercorn, h2 (latest)";
/// What the stamp of the Node part records as the request.
const NODE_REQUEST: &str = "node: ws (latest), playwright-core (latest), no browser download";

/// The Debian packages the tests run, each with the program a test starts: `(package, path)`.
/// Keep in step with `tests/peers/installed.rs`, which the tests' build scripts read.
const DEBIAN: [(&str, &str); 5] = [
    ("chromium", "/usr/bin/chromium"),
    ("tinyproxy", "/usr/bin/tinyproxy"),
    ("dante-server", "/usr/sbin/danted"),
    ("microsocks", "/usr/bin/microsocks"),
    ("redis-server", "/usr/bin/redis-server"),
];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let (mut refresh, mut check, mut debian) = (false, false, true);
    for arg in args {
        match arg.as_str() {
            "--refresh" => refresh = true,
            "--check" => check = true,
            "--no-debian" | "--no-chromium" => debian = false,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("peers: unknown option `{other}`\n{USAGE}")),
        }
    }
    let dir = cmd::workspace_root().join("target/peers");
    fs::create_dir_all(&dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let started = Instant::now();
    let mut missing = Vec::new();

    let python = Part {
        name: "python",
        dir: dir.join("python"),
        request: PYTHON_REQUEST,
    };
    let node = Part {
        name: "node",
        dir: dir.join("node"),
        request: NODE_REQUEST,
    };
    for part in [&python, &node] {
        match part.current() {
            Some(versions) if !refresh => {
                eprintln!(
                    "peers: {} up to date in {} ({versions})",
                    part.name,
                    part.dir.display()
                );
            }
            _ if check => missing.push(part.name),
            _ => {
                let part_started = Instant::now();
                eprintln!(
                    "peers: installing {} into {}",
                    part.name,
                    part.dir.display()
                );
                let versions = if part.name == "python" {
                    install_python(&part.dir)?
                } else {
                    install_node(&part.dir)?
                };
                part.write_stamp(&versions)?;
                eprintln!(
                    "peers: {} ready: {versions} ({})",
                    part.name,
                    proc::secs(part_started.elapsed())
                );
            }
        }
    }

    if debian {
        let absent: Vec<&str> = DEBIAN
            .iter()
            .filter(|(_, path)| !Path::new(path).exists())
            .map(|(package, _)| *package)
            .collect();
        if absent.is_empty() {
            eprintln!(
                "peers: Debian packages present ({})",
                DEBIAN.map(|(package, _)| package).join(", ")
            );
        } else if check {
            missing.extend(absent);
        } else if proc::is_root() {
            let debian_started = Instant::now();
            eprintln!("peers: apt-get install {}", absent.join(" "));
            proc::apt_install(&absent, &dir.join("apt.log"))?;
            eprintln!(
                "peers: {} installed ({})",
                absent.join(", "),
                proc::secs(debian_started.elapsed())
            );
        } else {
            eprintln!(
                "peers: WARNING: {} missing and installing needs root \
                 (`apt-get install {}`); the tests that need them are ignored",
                absent.join(", "),
                absent.join(" ")
            );
        }
    }

    if !missing.is_empty() {
        return Err(format!(
            "peers --check: missing or stale: {} (run `cargo xtask peers`)",
            missing.join(", ")
        ));
    }
    write_complete_stamp(&dir, &[&python, &node], debian)?;
    eprintln!(
        "peers: done in {}; python: {}/bin/python, node modules: {}/node_modules",
        proc::secs(started.elapsed()),
        python.dir.display(),
        node.dir.display()
    );
    Ok(())
}

/// `target/peers/.weft-peers-complete`: what is installed, for the tests' build scripts
/// (`crates/weft-cli/peers_installed.rs`). Written only when its content changes, so builds
/// notice a new install (Debian's files keep their package's old mtimes) without rebuilding
/// the tests after every run.
fn write_complete_stamp(dir: &Path, parts: &[&Part], debian: bool) -> Result<(), String> {
    let mut text = String::new();
    for part in parts {
        text.push_str(&format!(
            "{}: {}\n",
            part.name,
            part.current().unwrap_or_default()
        ));
    }
    if debian {
        for (package, path) in DEBIAN {
            text.push_str(&format!("{package}: {path}\n"));
        }
    }
    let stamp = dir.join(".weft-peers-complete");
    if fs::read_to_string(&stamp).ok().as_deref() != Some(text.as_str()) {
        fs::write(&stamp, text)
            .map_err(|err| format!("cannot write {}: {err}", stamp.display()))?;
    }
    Ok(())
}

/// One cached install with its stamp.
struct Part {
    name: &'static str,
    dir: PathBuf,
    request: &'static str,
}

impl Part {
    fn stamp(&self) -> PathBuf {
        self.dir.join(".weft-peers-stamp")
    }

    /// The installed versions, if the stamp matches the request and the install is still there.
    fn current(&self) -> Option<String> {
        let stamp = fs::read_to_string(self.stamp()).ok()?;
        let (request, versions) = stamp.split_once('\n')?;
        let present = match self.name {
            "python" => self.dir.join("bin/hypercorn").exists(),
            _ => {
                self.dir.join("node_modules/ws/package.json").exists()
                    && self
                        .dir
                        .join("node_modules/playwright-core/package.json")
                        .exists()
            }
        };
        (request == self.request && present).then(|| versions.trim().to_owned())
    }

    fn write_stamp(&self, versions: &str) -> Result<(), String> {
        fs::write(self.stamp(), format!("{}\n{versions}\n", self.request))
            .map_err(|err| format!("cannot write {}: {err}", self.stamp().display()))
    }
}

/// A venv with the latest [`PYTHON_PACKAGES`]; returns their versions.
fn install_python(dir: &Path) -> Result<String, String> {
    let python = dir.join("bin/python");
    if !python.exists() {
        let host =
            proc::find_on_path("python3").ok_or("peers: python3 is needed for the Python peers")?;
        Cmd::new(&host.display().to_string())
            .args(["-m", "venv"])
            .arg(dir)
            .run()?;
    }
    let python_str = python.display().to_string();
    Cmd::new(&python_str)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--upgrade",
            "--disable-pip-version-check",
        ])
        .args(PYTHON_PACKAGES)
        .run()?;
    let script = "import importlib.metadata as m, sys; \
                  print(' '.join(m.version(p) for p in sys.argv[1:]), sys.version.split()[0])";
    let versions = Cmd::new(&python_str)
        .args(["-c", script])
        .args(PYTHON_PACKAGES)
        .read()?;
    let mut words = versions.split_whitespace();
    let packages = PYTHON_PACKAGES
        .iter()
        .map(|package| format!("{package} {}", words.next().unwrap_or("?")))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(format!(
        "{packages} on Python {}",
        words.next().unwrap_or("?")
    ))
}

/// `ws` and `playwright-core` from npm into `dir/node_modules`; returns their versions.
fn install_node(dir: &Path) -> Result<String, String> {
    proc::find_on_path("npm").ok_or("peers: npm (and node) are needed for the Node peers")?;
    fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let manifest = dir.join("package.json");
    if !manifest.exists() {
        let text = "{\n  \"name\": \"weft-interop-peers\",\n  \"private\": true,\n  \
                    \"description\": \"Installed by cargo xtask peers; not committed.\"\n}\n";
        fs::write(&manifest, text)
            .map_err(|err| format!("cannot write {}: {err}", manifest.display()))?;
    }
    let mut npm = Command::new("npm");
    npm.current_dir(dir)
        // playwright-core downloads nothing by itself; make sure no install script does either.
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--save",
            "ws@latest",
            "playwright-core@latest",
        ]);
    eprintln!(
        "$ (cd {} && npm install --no-audit --no-fund --save ws@latest playwright-core@latest)",
        dir.display()
    );
    let status = npm
        .status()
        .map_err(|err| format!("could not start npm: {err}"))?;
    if !status.success() {
        return Err(format!("npm install failed ({status})"));
    }
    let version = |package: &str| -> Result<String, String> {
        let path = dir.join("node_modules").join(package).join("package.json");
        let text = fs::read_to_string(&path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|err| format!("{} is not JSON: {err}", path.display()))?;
        Ok(value["version"].as_str().unwrap_or("?").to_owned())
    };
    let node = Cmd::new("node").arg("--version").read().unwrap_or_default();
    Ok(format!(
        "ws {}, playwright-core {} on Node {}",
        version("ws")?,
        version("playwright-core")?,
        node.trim()
    ))
}
