//! The git commit a binary is built from, for build scripts (`#[path]`-included: a build
//! script cannot depend on a workspace crate). `<VAR>` in the environment wins (a build from a
//! tarball); otherwise `git` is asked, and a build outside a checkout has no commit.
//!
//! Emits `<VAR>` (only when known, for code that says nothing without one) and `<VAR>_SHOWN`
//! (the commit, or `unknown`, for `--version`).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Records the commit under `var` (see the module's doc).
pub fn emit(var: &str) {
    println!("cargo:rerun-if-env-changed={var}");
    let commit = std::env::var(var)
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]));
    // Rebuild when HEAD moves; only paths that exist, as a missing one reruns every build.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        for file in ["HEAD", "packed-refs", "refs/heads"] {
            let path = Path::new(&dir).join(file);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    if let Some(commit) = &commit {
        println!("cargo:rustc-env={var}={commit}");
    }
    println!(
        "cargo:rustc-env={var}_SHOWN={}",
        commit.as_deref().unwrap_or("unknown")
    );
}
