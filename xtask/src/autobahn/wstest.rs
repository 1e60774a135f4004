//! Finding or installing Autobahn|Testsuite's `wstest`, and starting it.
//!
//! `wstest` (PyPI `autobahntestsuite` 0.8.2) runs only on Python 2.7. In order of preference:
//! a `wstest` on `PATH`; the `crossbario/autobahn-testsuite` image when a container engine
//! actually runs (`docker info` / `podman info` succeeds); otherwise our own install, cached in
//! `target/autobahn/wstest/`: a minimal Debian 11 (bullseye, the last Debian with `python2.7`)
//! root made with `debootstrap`, pip 20.3.4 (the last pip for 2.7) and the pinned
//! `autobahn/requirements-py27.txt` installed inside it with `chroot`. That install needs root;
//! running it does not: bullseye's `python2.7` is started through bullseye's own dynamic loader
//! with `--library-path` into the root, so wstest sees ordinary host paths and no mounts or
//! chroot are involved.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::proc::{self, Running};

/// The container image, used only when a container engine runs.
const IMAGE: &str = "crossbario/autobahn-testsuite";
/// The last pip release that supports Python 2.7.
const PIP_FOR_PY27: &str = "20.3.4";
/// Bumped when the install steps change in a way that needs a fresh root.
const INSTALL_FORMAT: &str = "weft-wstest-install v1";

/// Where `wstest` comes from; `--wstest` forces one, `auto` tries them in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Provider {
    Auto,
    Path,
    Container,
    Local,
}

impl Provider {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(Self::Auto),
            "path" => Ok(Self::Path),
            "container" | "docker" | "podman" => Ok(Self::Container),
            "local" => Ok(Self::Local),
            other => Err(format!(
                "--wstest: expected auto, path, container or local, got `{other}`"
            )),
        }
    }
}

/// A runnable `wstest`.
#[derive(Debug)]
pub(crate) enum Wstest {
    /// An executable found on `PATH`.
    OnPath(PathBuf),
    /// `ENGINE run IMAGE wstest ...`, with `shared` mounted at the same path inside.
    Container { engine: String, shared: PathBuf },
    /// Our bullseye root, run through its own loader.
    Local { root: PathBuf, entry: PathBuf },
}

impl Wstest {
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::OnPath(path) => format!("wstest from PATH ({})", path.display()),
            Self::Container { engine, .. } => format!("{engine} image {IMAGE}"),
            Self::Local { root, .. } => format!("local install in {}", root.display()),
        }
    }

    /// The command that runs wstest with `args` in `workdir`. All paths handed to wstest (spec,
    /// outdir) must lie under `target/autobahn/`, which a container sees at the same path.
    fn command(&self, args: &[String], workdir: &Path, container_name: &str) -> Command {
        match self {
            Self::OnPath(path) => {
                let mut command = Command::new(path);
                command.args(args).current_dir(workdir);
                command
            }
            Self::Container { engine, shared } => {
                let mount = format!("{0}:{0}", shared.display());
                let mut command = Command::new(engine);
                command
                    .args(["run", "--rm", "--network", "host", "--name", container_name])
                    .args(["-v", &mount, "-w"])
                    .arg(workdir)
                    // The image's default command is a fuzzingserver with its own spec; name the
                    // program explicitly so only our arguments count.
                    .args(["--entrypoint", "wstest", IMAGE])
                    .args(args);
                command
            }
            Self::Local { root, entry } => {
                let mut command = python27(root);
                command.arg(entry).args(args).current_dir(workdir);
                command
            }
        }
    }

    /// Starts wstest with `args` in `workdir`, its output going to `log`.
    pub(crate) fn spawn(
        &self,
        args: &[String],
        workdir: &Path,
        log: &Path,
    ) -> Result<Running, String> {
        let container_name = format!("weft-autobahn-{}", std::process::id());
        let mut command = self.command(args, workdir, &container_name);
        proc::log_to(&mut command, log)?;
        let running = Running::spawn("wstest", command)?;
        Ok(match self {
            Self::Container { engine, .. } => {
                let mut cleanup = Command::new(engine);
                cleanup.args(["rm", "-f", &container_name]);
                running.with_cleanup(cleanup)
            }
            _ => running,
        })
    }
}

/// Finds or installs wstest. `cache` is `target/autobahn`; `workspace` is the repository root.
pub(crate) fn provision(
    provider: Provider,
    cache: &Path,
    workspace: &Path,
) -> Result<Wstest, String> {
    let started = Instant::now();
    if matches!(provider, Provider::Auto | Provider::Path) {
        if let Some(path) = proc::find_on_path("wstest") {
            return Ok(Wstest::OnPath(path));
        }
        if provider == Provider::Path {
            return Err("--wstest path: no `wstest` on PATH".into());
        }
    }
    if matches!(provider, Provider::Auto | Provider::Container) {
        for engine in ["docker", "podman"] {
            if proc::find_on_path(engine).is_some() && engine_runs(engine) {
                eprintln!("autobahn: {engine} runs; wstest will come from the {IMAGE} image");
                return Ok(Wstest::Container {
                    engine: engine.into(),
                    shared: cache.to_path_buf(),
                });
            }
        }
        if provider == Provider::Container {
            return Err(
                "--wstest container: neither `docker info` nor `podman info` succeeds".into(),
            );
        }
        eprintln!(
            "autobahn: no wstest on PATH and no running container engine; using a local install"
        );
    }
    let local = LocalInstall::new(cache, workspace);
    local.ensure()?;
    eprintln!(
        "autobahn: wstest ready ({}, {})",
        local.root.display(),
        proc::secs(started.elapsed())
    );
    Ok(Wstest::Local {
        root: local.root,
        entry: workspace.join("autobahn/wstest_entry.py"),
    })
}

/// `ENGINE info` succeeds within 20 seconds (a client without a daemon fails fast; a hung
/// socket must not hang the task).
fn engine_runs(engine: &str) -> bool {
    let mut command = Command::new(engine);
    command
        .arg("info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let Ok(mut running) = Running::spawn(engine, command) else {
        return false;
    };
    matches!(
        running.wait_until(Instant::now() + Duration::from_secs(20), || Ok(())),
        Ok(Some(status)) if status.success()
    )
}

/// The loader and library directories of the bullseye root for this machine's architecture.
fn arch_layout() -> Result<(&'static str, &'static str), String> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(("lib64/ld-linux-x86-64.so.2", "x86_64-linux-gnu")),
        "aarch64" => Ok(("lib/ld-linux-aarch64.so.1", "aarch64-linux-gnu")),
        other => Err(format!(
            "the local wstest install supports x86_64 and aarch64, not {other}"
        )),
    }
}

/// Resolves a path inside the root the way the root itself would: absolute symlink targets are
/// re-anchored under `root` (they are meant for inside it).
fn resolve_in_root(root: &Path, relative: &str) -> PathBuf {
    let mut path = root.join(relative);
    for _ in 0..16 {
        let Ok(target) = fs::read_link(&path) else {
            break;
        };
        path = match target.strip_prefix("/") {
            Ok(inside) => root.join(inside),
            Err(_) => path
                .parent()
                .map_or(target.clone(), |dir| dir.join(&target)),
        };
    }
    path
}

/// `python2.7` of the bullseye root, run on the host through the root's own loader.
fn python27(root: &Path) -> Command {
    // `arch_layout` was checked when the root was installed; fall back to x86_64 names here.
    let (loader, triple) =
        arch_layout().unwrap_or(("lib64/ld-linux-x86-64.so.2", "x86_64-linux-gnu"));
    let libs = format!(
        "{}:{}",
        root.join("usr/lib").join(triple).display(),
        root.join("lib").join(triple).display()
    );
    let mut command = Command::new(resolve_in_root(root, loader));
    command
        .arg("--library-path")
        .arg(libs)
        .arg(root.join("usr/bin/python2.7"))
        .env("PYTHONHOME", root.join("usr"))
        .env("PYTHONWARNINGS", "ignore")
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONNOUSERSITE", "1");
    for var in [
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "LD_LIBRARY_PATH",
        "LD_PRELOAD",
    ] {
        command.env_remove(var);
    }
    command
}

/// The cached bullseye root with wstest installed.
struct LocalInstall {
    dir: PathBuf,
    root: PathBuf,
    stamp: PathBuf,
    requirements: PathBuf,
}

impl LocalInstall {
    fn new(cache: &Path, workspace: &Path) -> Self {
        let dir = cache.join("wstest");
        let root = dir.join("bullseye");
        Self {
            stamp: root.join(".weft-wstest-ready"),
            root,
            dir,
            requirements: workspace.join("autobahn/requirements-py27.txt"),
        }
    }

    /// What the stamp must say for the install to be current: the format and the pins.
    fn wanted_stamp(&self) -> Result<String, String> {
        let pins = fs::read_to_string(&self.requirements)
            .map_err(|err| format!("cannot read {}: {err}", self.requirements.display()))?;
        Ok(format!(
            "{INSTALL_FORMAT} ({})\n{pins}",
            std::env::consts::ARCH
        ))
    }

    fn ensure(&self) -> Result<(), String> {
        let wanted = self.wanted_stamp()?;
        if fs::read_to_string(&self.stamp).is_ok_and(|have| have == wanted) {
            eprintln!(
                "autobahn: local wstest already installed (stamp {})",
                self.stamp.display()
            );
            return Ok(());
        }
        arch_layout()?;
        if !proc::is_root() {
            return Err(format!(
                "installing wstest locally needs root (debootstrap and chroot build a Debian \
                 bullseye root in {}); run this once as root, or put a `wstest` on PATH, or \
                 start a docker/podman engine. Running wstest afterwards does not need root.",
                self.root.display()
            ));
        }
        fs::create_dir_all(self.dir.join("dl"))
            .map_err(|err| format!("cannot create {}: {err}", self.dir.display()))?;
        let started = Instant::now();
        eprintln!(
            "autobahn: installing wstest into {} (once; about 1-2 minutes)",
            self.root.display()
        );
        self.debootstrap(started)?;
        self.prepare_network()?;
        self.install_pip(started)?;
        self.install_requirements(started)?;
        self.check(started)?;
        fs::write(&self.stamp, wanted)
            .map_err(|err| format!("cannot write {}: {err}", self.stamp.display()))?;
        step(started, "done");
        Ok(())
    }

    /// Step 1: a minimal bullseye root with Python 2.7, its headers and gcc (pip builds the C
    /// accelerators `wsaccel` and `ujson`).
    fn debootstrap(&self, started: Instant) -> Result<(), String> {
        if self.root.join(".debootstrap-done").exists() {
            step(started, "bullseye root present, skipping debootstrap");
            return Ok(());
        }
        if proc::find_on_path("debootstrap").is_none() {
            step(
                started,
                "debootstrap is missing: apt-get install -y debootstrap",
            );
            proc::apt_install(&["debootstrap"], &self.dir.join("apt.log"))?;
        }
        let mirror = debian_mirror();
        step(
            started,
            &format!(
                "debootstrap bullseye (minbase + python2.7, python2.7-dev, gcc) from {}",
                mirror.as_deref().unwrap_or("debootstrap's default mirror")
            ),
        );
        let tmp = self.dir.join("bullseye.tmp");
        remove_dir(&tmp)?;
        remove_dir(&self.root)?;
        let log = self.dir.join("debootstrap.log");
        let mut command = Command::new("debootstrap");
        command
            .args([
                "--variant=minbase",
                "--include=python2.7,python2.7-dev,gcc,libc6-dev",
            ])
            .arg("bullseye")
            .arg(&tmp);
        if let Some(mirror) = &mirror {
            command.arg(mirror);
        }
        proc::log_to(&mut command, &log)?;
        let status = command
            .status()
            .map_err(|err| format!("could not start debootstrap: {err}"))?;
        if !status.success() {
            return Err(format!(
                "debootstrap failed ({status}); last lines of {}:\n{}\n(set DEBIAN_MIRROR to use \
                 another Debian mirror that still carries bullseye)",
                log.display(),
                proc::tail(&log, 20)
            ));
        }
        // The downloaded .debs (~100 MB) are not needed once unpacked.
        if let Ok(entries) = fs::read_dir(tmp.join("var/cache/apt/archives")) {
            for entry in entries.flatten() {
                if entry.path().extension().is_some_and(|ext| ext == "deb") {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        touch(&tmp.join(".debootstrap-done"))?;
        fs::rename(&tmp, &self.root).map_err(|err| format!("cannot move the root in place: {err}"))
    }

    /// pip inside the root resolves names and verifies TLS like the host does: copy the host's
    /// resolver configuration and CA bundle (which may include a proxy's CA) into the root.
    fn prepare_network(&self) -> Result<(), String> {
        let etc = self.root.join("etc");
        let _ = fs::remove_file(etc.join("resolv.conf"));
        if let Ok(resolv) = fs::read("/etc/resolv.conf") {
            fs::write(etc.join("resolv.conf"), resolv)
                .map_err(|err| format!("cannot copy resolv.conf into the root: {err}"))?;
        }
        let ca = std::env::var_os("PIP_CERT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
        if let Ok(bundle) = fs::read(&ca) {
            fs::create_dir_all(etc.join("ssl"))
                .map_err(|err| format!("cannot create etc/ssl: {err}"))?;
            fs::write(etc.join("ssl/host-ca.crt"), bundle)
                .map_err(|err| format!("cannot copy the CA bundle into the root: {err}"))?;
        }
        Ok(())
    }

    /// `chroot ROOT env -i ...`: a clean environment plus what pip needs from the host's.
    fn chroot(&self, args: &[&str]) -> Command {
        let mut command = Command::new("chroot");
        command
            .arg(&self.root)
            .args(["/usr/bin/env", "-i", "HOME=/root", "LANG=C.UTF-8"]);
        command.arg("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        command.args([
            "PIP_DISABLE_PIP_VERSION_CHECK=1",
            "PIP_DEFAULT_TIMEOUT=180",
            "PIP_NO_WARN_SCRIPT_LOCATION=1",
            "PYTHONWARNINGS=ignore",
        ]);
        for var in [
            "http_proxy",
            "https_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "no_proxy",
            "NO_PROXY",
            "PIP_INDEX_URL",
            "PIP_EXTRA_INDEX_URL",
            "PIP_TRUSTED_HOST",
        ] {
            if let Ok(value) = std::env::var(var) {
                command.arg(format!("{var}={value}"));
            }
        }
        if self.root.join("etc/ssl/host-ca.crt").exists() {
            command.arg("PIP_CERT=/etc/ssl/host-ca.crt");
        }
        command.args(args);
        command
    }

    /// Runs a command in the chroot, its output appended to `pip.log`.
    fn run_chroot(&self, args: &[&str]) -> Result<(), String> {
        let log = self.dir.join("pip.log");
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|err| format!("cannot open {}: {err}", log.display()))?;
        let err_file = file
            .try_clone()
            .map_err(|err| format!("cannot share {}: {err}", log.display()))?;
        let status = self
            .chroot(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err_file)
            .status()
            .map_err(|err| format!("could not start chroot: {err}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "`{}` in the bullseye root failed ({status}); last lines of {}:\n{}",
                args.join(" "),
                log.display(),
                proc::tail(&log, 25)
            ))
        }
    }

    /// Step 2: pip 20.3.4, fetched as a wheel by the host's pip (bullseye has no pip for 2.7)
    /// and installed by running the wheel itself.
    fn install_pip(&self, started: Instant) -> Result<(), String> {
        if self.root.join("usr/local/bin/pip2.7").exists() {
            return Ok(());
        }
        let wheel_name = format!("pip-{PIP_FOR_PY27}-py2.py3-none-any.whl");
        let downloads = self.dir.join("dl");
        let wheel = downloads.join(&wheel_name);
        if !wheel.exists() {
            step(
                started,
                &format!("downloading pip {PIP_FOR_PY27} for Python 2.7 with the host's pip"),
            );
            let python = proc::find_on_path("python3")
                .ok_or("the local wstest install needs the host's python3 with pip")?;
            let status = Command::new(python)
                .args([
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--only-binary=:all:",
                ])
                .args(["--python-version", "2.7", "-d"])
                .arg(&downloads)
                .arg(format!("pip=={PIP_FOR_PY27}"))
                .status()
                .map_err(|err| format!("could not start python3 -m pip: {err}"))?;
            if !status.success() || !wheel.exists() {
                return Err(format!(
                    "pip download of pip=={PIP_FOR_PY27} failed ({status})"
                ));
            }
        }
        step(
            started,
            &format!("installing pip {PIP_FOR_PY27} into the root"),
        );
        fs::copy(&wheel, self.root.join("tmp").join(&wheel_name))
            .map_err(|err| format!("cannot copy {}: {err}", wheel.display()))?;
        let inside = format!("/tmp/{wheel_name}");
        let runner = format!("{inside}/pip");
        self.run_chroot(&[
            "/usr/bin/python2.7",
            &runner,
            "install",
            "-q",
            "--no-index",
            &inside,
        ])
    }

    /// Step 3: the pinned test suite and its dependencies.
    fn install_requirements(&self, started: Instant) -> Result<(), String> {
        step(
            started,
            "pip install autobahntestsuite and pins (autobahn/requirements-py27.txt)",
        );
        fs::copy(
            &self.requirements,
            self.root.join("tmp/requirements-py27.txt"),
        )
        .map_err(|err| format!("cannot copy the requirements into the root: {err}"))?;
        self.run_chroot(&[
            "/usr/local/bin/pip2.7",
            "install",
            "-q",
            "setuptools==44.0.0",
            "wheel==0.37.1",
        ])?;
        self.run_chroot(&[
            "/usr/local/bin/pip2.7",
            "install",
            "-q",
            "-r",
            "/tmp/requirements-py27.txt",
        ])
    }

    /// Step 4: wstest starts outside the chroot, the way the task runs it, with its C
    /// accelerators (without them 12.* and 13.* take several times longer).
    fn check(&self, started: Instant) -> Result<(), String> {
        step(started, "checking that wstest starts outside the chroot");
        let output = python27(&self.root)
            .args([
                "-c",
                "import wsaccel, ujson; from autobahntestsuite import wstest; print('ok')",
            ])
            .output()
            .map_err(|err| format!("could not start the root's python2.7: {err}"))?;
        if output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == "ok" {
            Ok(())
        } else {
            Err(format!(
                "wstest does not import in the bullseye root ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

fn step(started: Instant, what: &str) {
    eprintln!(
        "autobahn: [install +{}] {what}",
        proc::secs(started.elapsed())
    );
}

fn touch(path: &Path) -> Result<(), String> {
    fs::write(path, b"").map_err(|err| format!("cannot write {}: {err}", path.display()))
}

fn remove_dir(path: &Path) -> Result<(), String> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(format!("cannot remove {}: {err}", path.display())),
    }
}

/// The Debian mirror for debootstrap: `$DEBIAN_MIRROR`, else the one the host's apt already
/// uses (so the same proxy/mirror setup applies), else debootstrap's own default.
fn debian_mirror() -> Option<String> {
    if let Ok(mirror) = std::env::var("DEBIAN_MIRROR")
        && !mirror.is_empty()
    {
        return Some(mirror);
    }
    let mut candidates = Vec::new();
    if let Ok(text) = fs::read_to_string("/etc/apt/sources.list.d/debian.sources") {
        candidates.extend(deb822_debian_uris(&text));
    }
    if let Ok(text) = fs::read_to_string("/etc/apt/sources.list") {
        candidates.extend(one_line_debian_uris(&text));
    }
    candidates.into_iter().next()
}

/// `URIs:` of deb822 stanzas whose suites are Debian's main archive (not `-security`).
fn deb822_debian_uris(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|stanza| {
            let field = |name: &str| {
                stanza
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
            };
            let uri = field("URIs:")?;
            let suites = field("Suites:")?;
            let keyring = field("Signed-By:").unwrap_or_default();
            let main_archive = !suites.contains("-security")
                && (keyring.contains("debian-archive")
                    || uri.trim_end_matches('/').ends_with("/debian"));
            main_archive.then(|| uri.split_whitespace().next().unwrap_or_default().to_owned())
        })
        .filter(|uri| !uri.is_empty())
        .collect()
}

/// Mirrors of `deb URI SUITE ...` lines that look like Debian's main archive.
fn one_line_debian_uris(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let mut words = line
                .split_whitespace()
                .filter(|word| !word.starts_with('['));
            (words.next()? == "deb").then_some(())?;
            let uri = words.next()?;
            let suite = words.next()?;
            (uri.trim_end_matches('/').ends_with("/debian") && !suite.contains("-security"))
                .then(|| uri.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_main_archive_in_deb822_sources() {
        let text = "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n\
                    Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
                    Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\
                    Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";
        assert_eq!(
            deb822_debian_uris(text),
            vec!["http://mirror.example/debian".to_owned()]
        );
    }

    #[test]
    fn finds_the_main_archive_in_one_line_sources() {
        let text = "deb [arch=amd64] http://mirror.example/debian bookworm main\n\
                    deb http://mirror.example/debian-security bookworm-security main\n\
                    deb https://packages.example/apt cloud main\n";
        assert_eq!(
            one_line_debian_uris(text),
            vec!["http://mirror.example/debian".to_owned()]
        );
    }

    #[test]
    fn containers_see_the_cache_at_the_same_path() {
        let wstest = Wstest::Container {
            engine: "podman".into(),
            shared: "/w/target/autobahn".into(),
        };
        let args = ["-m".to_owned(), "fuzzingclient".to_owned()];
        let command = wstest.command(&args, Path::new("/w/target/autobahn/reports/server"), "n1");
        let argv: Vec<String> = command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        assert_eq!(command.get_program(), "podman");
        assert_eq!(
            argv.join(" "),
            "run --rm --network host --name n1 -v /w/target/autobahn:/w/target/autobahn \
             -w /w/target/autobahn/reports/server --entrypoint wstest \
             crossbario/autobahn-testsuite -m fuzzingclient"
        );
    }

    #[test]
    fn re_anchors_absolute_links_under_the_root() {
        let dir = std::env::temp_dir().join(format!("xtask-root-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("lib64")).unwrap();
        fs::create_dir_all(dir.join("lib/x86_64-linux-gnu")).unwrap();
        fs::write(dir.join("lib/x86_64-linux-gnu/ld-2.31.so"), b"").unwrap();
        std::os::unix::fs::symlink("/lib/x86_64-linux-gnu/ld-2.31.so", dir.join("lib64/ld.so"))
            .unwrap();
        assert_eq!(
            resolve_in_root(&dir, "lib64/ld.so"),
            dir.join("lib/x86_64-linux-gnu/ld-2.31.so")
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
