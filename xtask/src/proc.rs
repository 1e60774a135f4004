//! Long-running children (servers, wstest), loopback ports, and the small facts about the host
//! that the provisioning tasks need. Plain `std::process` and `std::net`, no runtime.

use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Seconds with one decimal, the unit every timing line of the tasks uses.
pub(crate) fn secs(elapsed: Duration) -> String {
    format!("{:.1} s", elapsed.as_secs_f64())
}

/// Whether this process runs as root (effective uid 0), read from `/proc` to avoid `libc`.
pub(crate) fn is_root() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .is_some_and(|euid| euid == "0")
}

/// The first executable called `name` in `PATH`.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            use std::os::unix::fs::PermissionsExt;
            candidate
                .metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// A loopback port nobody listens on right now (the OS picks it; there is a small window in
/// which another process could take it, which is fine for a test run on one machine).
pub(crate) fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|err| format!("cannot bind a loopback port: {err}"))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|err| format!("cannot read the bound port: {err}"))
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
pub(crate) fn port_accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(250)).is_ok()
}

/// The last `lines` lines of a (log) file, for error messages; empty if unreadable.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if File::open(path)
        .and_then(|mut file| file.read_to_string(&mut text))
        .is_err()
    {
        return String::new();
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A command line given by the user (`--server-cmd`), run through `sh -c 'exec CMD'` so that the
/// process we stop is the command itself, not a shell around it.
pub(crate) fn shell(command_line: &str) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(format!("exec {command_line}"));
    command
}

/// Points a command's standard output and error at a log file (created or truncated).
pub(crate) fn log_to(command: &mut Command, log: &Path) -> Result<(), String> {
    let file =
        File::create(log).map_err(|err| format!("cannot create log {}: {err}", log.display()))?;
    let err_file = file
        .try_clone()
        .map_err(|err| format!("cannot share log {}: {err}", log.display()))?;
    command.stdin(Stdio::null()).stdout(file).stderr(err_file);
    Ok(())
}

/// Waits until `child` exits or `deadline` passes, looking every 20 ms; its exit status, or
/// `None` if it is still running at the deadline.
pub(crate) fn wait_for_exit(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().ok().flatten() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asks process `pid` to stop (SIGTERM).
pub(crate) fn send_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// A child process that is stopped (SIGTERM, then SIGKILL) when this value is dropped, so no
/// server or wstest outlives the task, whichever way it returns.
pub(crate) struct Running {
    name: String,
    child: Child,
    exited: Option<ExitStatus>,
    /// Run after the child is gone (e.g. `docker rm -f NAME` for a container).
    cleanup: Option<Command>,
}

impl Running {
    /// Starts `command`; `name` is how messages refer to it.
    pub(crate) fn spawn(name: &str, mut command: Command) -> Result<Self, String> {
        let child = command
            .spawn()
            .map_err(|err| format!("could not start {name} ({command:?}): {err}"))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            exited: None,
            cleanup: None,
        })
    }

    /// Sets a command to run once the child has been stopped.
    pub(crate) fn with_cleanup(mut self, cleanup: Command) -> Self {
        self.cleanup = Some(cleanup);
        self
    }

    /// The exit status, if the child has exited (never blocks).
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Waits until the child exits or `deadline` passes, checking `poll` every 100 ms; `poll`
    /// can end the wait early by returning an error.
    pub(crate) fn wait_until(
        &mut self,
        deadline: Instant,
        mut poll: impl FnMut() -> Result<(), String>,
    ) -> Result<Option<ExitStatus>, String> {
        loop {
            if let Some(status) = self.exited() {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            poll()?;
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `127.0.0.1:port` accepts connections; fails if the child exits first or
    /// `timeout` passes.
    pub(crate) fn wait_for_port(&mut self, port: u16, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if port_accepts(port) {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                return Err(format!(
                    "{} exited ({status}) before listening on port {port}",
                    self.name
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not listen on 127.0.0.1:{port} within {}",
                    self.name,
                    secs(timeout)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the child: SIGTERM, up to three seconds to exit, then SIGKILL.
    pub(crate) fn stop(&mut self) {
        if self.exited().is_none() {
            send_sigterm(self.child.id());
            self.exited = wait_for_exit(&mut self.child, Instant::now() + Duration::from_secs(3));
            if self.exited.is_none() {
                let _ = self.child.kill();
                self.exited = self.child.wait().ok();
            }
        }
        if let Some(mut cleanup) = self.cleanup.take() {
            let _ = cleanup.stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `apt-get install -y PACKAGES`, refreshing the package lists once if the first try fails
/// (a fresh machine may have none). apt's output goes to `log`; its tail is shown on failure.
///
/// Services the packages bring (a Redis server, proxies) are not started: while apt runs, a
/// `policy-rc.d` that denies every start is in place (Debian's mechanism for exactly this, see
/// invoke-rc.d(8)), so no daemon is left listening on a well-known port; tests start their own.
pub(crate) fn apt_install(packages: &[&str], log: &Path) -> Result<(), String> {
    let _no_services = DenyServiceStarts::install();
    let run = |args: &[&str]| -> Result<bool, String> {
        let mut command = Command::new("apt-get");
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        log_to(&mut command, log)?;
        Ok(command.status().is_ok_and(|status| status.success()))
    };
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend_from_slice(packages);
    let packages = packages.join(" ");
    if run(&install)? {
        return Ok(());
    }
    eprintln!("apt-get install {packages} failed; running apt-get update and trying again");
    if run(&["update", "-q"])? && run(&install)? {
        Ok(())
    } else {
        Err(format!(
            "apt-get install {packages} failed; last lines of {}:\n{}",
            log.display(),
            tail(log, 15)
        ))
    }
}

/// A `/usr/sbin/policy-rc.d` answering 101 ("action forbidden") while it lives, unless the
/// machine already has one (then that one decides).
struct DenyServiceStarts(Option<PathBuf>);

impl DenyServiceStarts {
    fn install() -> Self {
        let path = PathBuf::from("/usr/sbin/policy-rc.d");
        if path.exists() {
            return Self(None);
        }
        let written = std::fs::write(
            &path,
            "#!/bin/sh\n# cargo xtask: no service starts during apt-get\nexit 101\n",
        )
        .and_then(|()| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        });
        Self(written.is_ok().then_some(path))
    }
}

impl Drop for DenyServiceStarts {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_for_exit_returns_the_status_or_gives_up_at_the_deadline() {
        let mut quick = Command::new("true").spawn().unwrap();
        let status = wait_for_exit(&mut quick, Instant::now() + Duration::from_secs(10));
        assert!(status.is_some_and(|status| status.success()));

        let mut slow = Command::new("sleep").arg("10").spawn().unwrap();
        let started = Instant::now();
        assert_eq!(
            wait_for_exit(&mut slow, started + Duration::from_millis(100)),
            None
        );
        send_sigterm(slow.id());
        let status = wait_for_exit(&mut slow, Instant::now() + Duration::from_secs(10));
        assert!(
            status.is_some_and(|status| !status.success()),
            "SIGTERM ends it"
        );
    }
}
