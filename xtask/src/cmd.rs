//! Running commands the way a CI log wants them: echoed first, failures named.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Moves the process into the workspace root, so tasks can use relative paths.
pub(crate) fn enter_workspace_root() -> Result<(), String> {
    let root = workspace_root();
    std::env::set_current_dir(&root)
        .map_err(|err| format!("cannot enter workspace root {}: {err}", root.display()))
}

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A command to run, echoed before it starts.
pub(crate) struct Cmd {
    inner: Command,
    display: String,
}

impl Cmd {
    pub(crate) fn new(program: &str) -> Self {
        Self {
            inner: Command::new(program),
            display: program.to_owned(),
        }
    }

    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.display.push(' ');
        self.display.push_str(&arg.as_ref().to_string_lossy());
        self.inner.arg(arg);
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self = self.arg(arg);
        }
        self
    }

    pub(crate) fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.display = format!(
            "{key}={} {}",
            value.as_ref().to_string_lossy(),
            self.display
        );
        self.inner.env(key, value);
        self
    }

    /// Runs to completion; a non-zero exit is an error naming the command.
    pub(crate) fn run(mut self) -> Result<(), String> {
        eprintln!("$ {}", self.display);
        let status = self
            .inner
            .status()
            .map_err(|err| format!("could not start `{}`: {err}", self.display))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{}` failed ({status})", self.display))
        }
    }

    /// Runs to completion and returns its standard output.
    #[allow(dead_code)]
    pub(crate) fn read(mut self) -> Result<String, String> {
        eprintln!("$ {}", self.display);
        let output = self
            .inner
            .output()
            .map_err(|err| format!("could not start `{}`: {err}", self.display))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "`{}` failed ({}): {}",
                self.display,
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}
