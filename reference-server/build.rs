//! Records the git commit, for `info.x-service-version` in `/openapi.json`.
//!
//! `REFSERVER_GIT_COMMIT` in the environment wins (builds from a tarball); otherwise `git` is
//! asked, and a build outside a checkout simply has no commit.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=REFSERVER_GIT_COMMIT");
    let commit = std::env::var("REFSERVER_GIT_COMMIT")
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
    if let Some(commit) = commit {
        println!("cargo:rustc-env=REFSERVER_GIT_COMMIT={commit}");
    }
}
