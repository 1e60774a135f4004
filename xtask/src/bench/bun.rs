//! Bun, the JavaScript runtime whose WebSocket server is uWebSockets: the held peer for speed
//! in the benchmarks. Installed from npm (`@oven/bun-linux-x64`, the release binary in a
//! package) into `target/bun/`, never by hand and never outside `target/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{self, Cmd};

/// The npm package holding Bun's Linux x86-64 binary (it needs AVX2; the `-baseline` package
/// does not).
const PACKAGE: &str = "@oven/bun-linux-x64";

/// Bun's executable in `target/bun`, installed from npm first if it is not there; and its
/// version. Fails on a machine that is not Linux x86-64, or when npm cannot install it.
pub(crate) fn ensure() -> Result<(PathBuf, String), String> {
    if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
        return Err("Bun comes from npm here for Linux x86-64 only".to_owned());
    }
    let dir = cmd::workspace_root().join("target/bun");
    let bun = binary(&dir);
    if !bun.exists() {
        fs::create_dir_all(&dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        eprintln!(
            "bench: installing Bun ({PACKAGE}) from npm into {}",
            dir.display()
        );
        Cmd::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--prefix",
            ])
            .arg(&dir)
            .arg(PACKAGE)
            .run()?;
    }
    let version = Command::new(&bun)
        .arg("--version")
        .output()
        .map_err(|err| format!("cannot run {}: {err}", bun.display()))?;
    if !version.status.success() {
        return Err(format!(
            "{} --version failed ({}): {}",
            bun.display(),
            version.status,
            String::from_utf8_lossy(&version.stderr).trim()
        ));
    }
    Ok((
        bun,
        String::from_utf8_lossy(&version.stdout).trim().to_owned(),
    ))
}

/// Where the package puts the binary under `dir`.
fn binary(dir: &Path) -> PathBuf {
    dir.join("node_modules")
        .join(PACKAGE)
        .join("bin")
        .join("bun")
}
