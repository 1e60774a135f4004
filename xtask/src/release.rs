//! `cargo xtask release X.Y.Z [--dry-run]`: one version for every crate, checked end to end.
//!
//! 1. Refuses a dirty tree and a version without a `## [X.Y.Z]` entry in CHANGELOG.md.
//! 2. Bumps `[workspace.package] version` and the version of every `weft*` entry in
//!    `[workspace.dependencies]` in the root manifest (the crates inherit both), and
//!    `Cargo.lock`.
//! 3. Runs the full test suite and the Autobahn CI form.
//! 4. Runs `cargo publish --workspace --dry-run`, which packages and verifies the publishable
//!    crates in dependency order (codec, handshake, deflate, client, server, facade, cli),
//!    resolving unpublished siblings against each other. (See [`TAKEN_NAMES`]: `weft-cli` is
//!    packaged without the registry build check while `weft` belongs to another project.)
//! 5. Without `--dry-run`: commits the bump and tags `vX.Y.Z`. With it: restores the files it
//!    bumped, so the tree is as it was.

use std::fs;

use crate::cmd::Cmd;

const USAGE: &str = "usage: cargo xtask release X.Y.Z [--dry-run] [--skip-checks]\n\n  \
    --dry-run       check everything, change nothing (the bump is undone at the end)\n  \
    --skip-checks   skip the test suite and the Autobahn run (the publish dry-run still runs)\n";

/// Crate names that other projects hold on crates.io (checked 2026-11-21 with `cargo info`):
/// `weft` (cstorey/weft, up to 0.1.2), `weft-client` (HeddleCo/heddle, up to 0.31.3) and
/// `weft-cli` (theweft/weft-cli, 0.0.1). Publishing under them needs a transfer or new package
/// names; until then, a crate whose dependency's version also exists under the other owner
/// cannot be verified against the registry (cargo resolves it to their crate).
const TAKEN_NAMES: &[&str] = &["weft", "weft-client", "weft-cli"];

/// Crates that depend on `weft` (whose 0.1.0 exists under the other owner): packaged, but
/// their registry build check is skipped; the test suite builds them against ours.
const UNVERIFIABLE: &[&str] = &["weft-cli"];

const MANIFEST: &str = "Cargo.toml";
const LOCKFILE: &str = "Cargo.lock";
const CHANGELOG: &str = "CHANGELOG.md";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut version = None;
    let mut dry_run = false;
    let mut skip_checks = false;
    for arg in args {
        match arg.as_str() {
            "--dry-run" => dry_run = true,
            "--skip-checks" => skip_checks = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            other if version.is_none() && !other.starts_with('-') => {
                version = Some(other.to_owned());
            }
            other => return Err(format!("release: unexpected argument {other}\n{USAGE}")),
        }
    }
    let version = version.ok_or_else(|| format!("release: which version?\n{USAGE}"))?;
    check_version(&version)?;

    let status = Cmd::new("git").args(["status", "--porcelain"]).read()?;
    if !status.trim().is_empty() {
        return Err(format!("release: the working tree is not clean:\n{status}"));
    }
    let changelog =
        fs::read_to_string(CHANGELOG).map_err(|err| format!("release: {CHANGELOG}: {err}"))?;
    if !changelog
        .lines()
        .any(|line| line.starts_with(&format!("## [{version}]")))
    {
        return Err(format!(
            "release: {CHANGELOG} has no `## [{version}]` entry"
        ));
    }

    let manifest = fs::read_to_string(MANIFEST).map_err(|err| format!("release: {err}"))?;
    let bumped = bump_manifest(&manifest, &version)?;
    let changed = bumped != manifest;
    if changed {
        eprintln!("release: setting every crate to {version}");
        fs::write(MANIFEST, &bumped).map_err(|err| format!("release: {err}"))?;
    } else {
        eprintln!("release: every crate is already at {version}");
    }

    let outcome = checks(skip_checks, changed);
    if dry_run || outcome.is_err() {
        if changed {
            // Leave the tree as it was found.
            Cmd::new("git")
                .args(["checkout", "--", MANIFEST, LOCKFILE])
                .run()?;
        }
        outcome?;
        eprintln!("release: dry run of {version} passed; nothing was changed");
        return Ok(());
    }
    if changed {
        Cmd::new("git")
            .args(["commit", "-m"])
            .arg(format!("Release {version}"))
            .args([MANIFEST, LOCKFILE])
            .run()?;
    }
    Cmd::new("git")
        .args(["tag", "-a"])
        .arg(format!("v{version}"))
        .args(["-m"])
        .arg(format!("weft {version}"))
        .run()?;
    eprintln!(
        "release: tagged v{version}; push the tag and run `cargo publish --workspace` to publish"
    );
    Ok(())
}

fn checks(skip_checks: bool, changed: bool) -> Result<(), String> {
    // Updates Cargo.lock for the new versions of our own crates only.
    Cmd::new("cargo").args(["update", "--workspace"]).run()?;
    if !skip_checks {
        Cmd::new("cargo")
            .args(["test", "--workspace", "--all-features", "--locked"])
            .run()?;
        Cmd::new("cargo").args(["xtask", "autobahn"]).run()?;
    }
    eprintln!(
        "release: warning: these crate names belong to other projects on crates.io: {}; \
         publishing needs a transfer or a rename",
        TAKEN_NAMES.join(", ")
    );
    let mut publish = Cmd::new("cargo").args(["publish", "--workspace", "--dry-run", "--locked"]);
    for name in UNVERIFIABLE {
        publish = publish.args(["--exclude", name]);
    }
    if changed {
        // The bump itself is the only change, and it is not committed yet.
        publish = publish.arg("--allow-dirty");
    }
    publish.run()?;
    for name in UNVERIFIABLE {
        let mut package =
            Cmd::new("cargo").args(["package", "--locked", "--no-verify", "--package", name]);
        if changed {
            package = package.arg("--allow-dirty");
        }
        package.run()?;
    }
    Ok(())
}

/// `X.Y.Z` with numeric parts (pre-release and build suffixes are not used by this project).
fn check_version(version: &str) -> Result<(), String> {
    let parts: Vec<_> = version.split('.').collect();
    if parts.len() == 3
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok(())
    } else {
        Err(format!(
            "release: {version:?} is not a version of the form X.Y.Z"
        ))
    }
}

/// The root manifest with `[workspace.package] version` and every `weft*` workspace dependency
/// set to `version`.
fn bump_manifest(manifest: &str, version: &str) -> Result<String, String> {
    let mut out = String::with_capacity(manifest.len());
    let mut section = "";
    let mut package_version_set = false;
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = if trimmed == "[workspace.package]" {
                "package"
            } else if trimmed == "[workspace.dependencies]" {
                "dependencies"
            } else {
                ""
            };
        }
        let line = match section {
            "package" if trimmed.starts_with("version") && trimmed.contains('=') => {
                package_version_set = true;
                format!("version = \"{version}\"")
            }
            "dependencies" if trimmed.starts_with("weft") && trimmed.contains("version = \"") => {
                replace_version(line, version)
            }
            _ => line.to_owned(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    if !package_version_set {
        return Err("release: no version in [workspace.package]".into());
    }
    Ok(out)
}

/// Replaces the value of `version = "…"` in one dependency line.
fn replace_version(line: &str, version: &str) -> String {
    let Some(start) = line.find("version = \"") else {
        return line.to_owned();
    };
    let value_start = start + "version = \"".len();
    let Some(len) = line[value_start..].find('"') else {
        return line.to_owned();
    };
    format!(
        "{}{version}{}",
        &line[..value_start],
        &line[value_start + len..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_three_numbers() {
        assert!(check_version("0.1.0").is_ok());
        assert!(check_version("10.20.30").is_ok());
        for bad in ["0.1", "0.1.0-rc1", "v0.1.0", "0..1", "a.b.c"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_bump_touches_the_package_version_and_our_dependencies_only() {
        let manifest = "\
[workspace.package]
version = \"0.1.0\"
edition = \"2024\"

[workspace.dependencies]
weft-codec = { path = \"crates/weft-codec\", version = \"0.1.0\", default-features = false }
weft-harness = { path = \"crates/weft-harness\" }
bytes = { version = \"1.12\", default-features = false }
";
        let bumped = bump_manifest(manifest, "0.2.0").unwrap();
        assert!(bumped.contains("[workspace.package]\nversion = \"0.2.0\"\n"));
        assert!(bumped.contains(
            "weft-codec = { path = \"crates/weft-codec\", version = \"0.2.0\", default-features = false }"
        ));
        assert!(bumped.contains("weft-harness = { path = \"crates/weft-harness\" }"));
        assert!(
            bumped.contains("bytes = { version = \"1.12\""),
            "other dependencies keep theirs"
        );
        assert_eq!(bump_manifest(manifest, "0.1.0").unwrap(), manifest);
    }
}
