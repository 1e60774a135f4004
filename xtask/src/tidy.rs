//! Rules about the source tree, as tests: `cargo test -p xtask` (part of `cargo test
//! --workspace`, and so of `cargo xtask ci`) fails when one is broken, naming each place.
//!
//! - Every published crate takes the workspace's lints, which warn about missing docs
//!   (`missing_docs`), and CI denies warnings.
//! - Every public function of a published crate has an example in its doc comment: a code
//!   block, which `cargo test` compiles (and runs, unless it is `no_run`).

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    /// The workspace root.
    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask sits in the workspace root")
            .to_path_buf()
    }

    /// The directories of the crates under `crates/` that are published (no `publish = false`).
    fn published_crates() -> Vec<PathBuf> {
        let mut crates: Vec<PathBuf> = fs::read_dir(root().join("crates"))
            .expect("crates/")
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|dir| {
                fs::read_to_string(dir.join("Cargo.toml"))
                    .is_ok_and(|manifest| !manifest.contains("publish = false"))
            })
            .collect();
        crates.sort();
        assert!(crates.len() >= 8, "published crates found: {crates:?}");
        crates
    }

    /// The `.rs` files under `dir`, recursively, in a stable order.
    fn rust_files(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in fs::read_dir(&dir).expect("a source directory") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    files.push(path);
                }
            }
        }
        files.sort();
        files
    }

    /// The public functions in `source` whose doc comment has no code block, as
    /// `(line number, signature)`. A function is public when it is declared `pub` (not
    /// `pub(crate)`; the workspace's `unreachable_pub` lint keeps such functions reachable)
    /// and not `#[doc(hidden)]`. Unit tests (from a `#[cfg(test)]` at the start of a line, and
    /// `tests.rs` files) are not looked at.
    fn functions_without_example(source: &str) -> Vec<(usize, String)> {
        let lines: Vec<&str> = source
            .lines()
            .take_while(|line| *line != "#[cfg(test)]")
            .collect();
        let mut missing = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            let signature = line.trim_start();
            let is_public_fn = [
                "pub fn ",
                "pub const fn ",
                "pub async fn ",
                "pub unsafe fn ",
            ]
            .iter()
            .any(|start| signature.starts_with(start));
            if !is_public_fn {
                continue;
            }
            let (attributes, docs) = doc_comment_above(&lines, index);
            if attributes.iter().any(|line| line.contains("doc(hidden)")) {
                continue;
            }
            if !docs.iter().any(|line| line.contains("```")) {
                missing.push((index + 1, signature.trim_end_matches(" {").to_owned()));
            }
        }
        missing
    }

    /// The attribute lines and the `///` lines above `lines[index]` (attributes may span
    /// lines: from `#[` down to a line ending in `]`).
    fn doc_comment_above<'a>(lines: &[&'a str], index: usize) -> (Vec<&'a str>, Vec<&'a str>) {
        let mut above = index;
        let mut attributes = Vec::new();
        while above > 0 {
            let line = lines[above - 1].trim();
            if line.starts_with("#[") {
                above -= 1;
                attributes.push(line);
            } else if line.ends_with(']') && !line.starts_with("///") {
                while above > 0 && !lines[above - 1].trim().starts_with("#[") {
                    above -= 1;
                    attributes.push(lines[above].trim());
                }
                above = above.saturating_sub(1);
                attributes.push(lines[above].trim());
            } else {
                break;
            }
        }
        let mut docs = Vec::new();
        while above > 0 && lines[above - 1].trim_start().starts_with("///") {
            above -= 1;
            docs.push(lines[above]);
        }
        (attributes, docs)
    }

    #[test]
    fn every_published_crate_takes_the_workspace_lints_which_warn_of_missing_docs() {
        let workspace = fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
        assert!(
            workspace.contains("missing_docs = \"warn\""),
            "[workspace.lints.rust] must warn about missing docs"
        );
        for dir in published_crates() {
            let manifest = fs::read_to_string(dir.join("Cargo.toml")).expect("a manifest");
            assert!(
                manifest.contains("[lints]\nworkspace = true"),
                "{}: add `[lints] workspace = true`",
                dir.display()
            );
        }
    }

    #[test]
    fn every_public_function_of_a_published_crate_has_an_example() {
        let root = root();
        let mut missing = Vec::new();
        for dir in published_crates() {
            for file in rust_files(&dir.join("src")) {
                if file.file_name().is_some_and(|name| name == "tests.rs") {
                    continue;
                }
                let source = fs::read_to_string(&file).expect("a source file");
                for (line, signature) in functions_without_example(&source) {
                    let path = file.strip_prefix(&root).unwrap_or(&file);
                    missing.push(format!("{}:{line}: {signature}", path.display()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "{} public functions have no example in their docs (a ``` block that cargo test \
             compiles):\n{}",
            missing.len(),
            missing.join("\n")
        );
    }

    #[test]
    fn the_example_rule_reads_docs_past_attributes() {
        let source = "\
/// Adds.
///
/// ```
/// assert_eq!(add(1, 2), 3);
/// ```
#[must_use]
#[allow(
    clippy::all,
    reason = \"an example\"
)]
pub fn add(a: u8, b: u8) -> u8 {
    a + b
}

/// Subtracts, without an example.
pub const fn sub(a: u8, b: u8) -> u8 {
    a - b
}

pub(crate) fn private() {}

/// For benches only.
#[doc(hidden)]
pub fn hidden() {}

#[cfg(test)]
mod tests {
    pub fn helper() {}
}
";
        assert_eq!(
            functions_without_example(source),
            [(16, "pub const fn sub(a: u8, b: u8) -> u8".to_owned())]
        );
    }
}
