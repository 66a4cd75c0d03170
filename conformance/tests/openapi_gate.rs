//! `scripts/openapi-gate.sh` in a throwaway git repository: a breaking change to
//! `schemas/openapi.yaml` fails the gate unless the commit message declares it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binary;
#[path = "../../harness/tests/common/mod.rs"]
mod common;

use binary::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// A repository holding `scripts/openapi-gate.sh` and `schemas/` as committed here (removed
/// when the value is dropped).
fn repo() -> tempfile::TempDir {
    let dir_tmp = common::tempdir();
    let dir = dir_tmp.path();
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::create_dir_all(dir.join("schemas")).unwrap();
    std::fs::copy(
        root().join("scripts/openapi-gate.sh"),
        dir.join("scripts/openapi-gate.sh"),
    )
    .unwrap();
    for entry in std::fs::read_dir(root().join("schemas")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join("schemas").join(path.file_name().unwrap())).unwrap();
    }
    git(dir, &["init", "-q"]);
    git(dir, &["config", "user.email", "ci@example.com"]);
    git(dir, &["config", "user.name", "CI"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "base"]);
    dir_tmp
}

fn edit(dir: &Path, change: impl FnOnce(String) -> String, message: &str) {
    let file = dir.join("schemas/openapi.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let changed = change(text.clone());
    assert_ne!(changed, text, "the edit changed nothing");
    std::fs::write(&file, changed).unwrap();
    git(dir, &["commit", "-qam", message]);
}

fn gate(dir: &Path) -> Output {
    Command::new("bash")
        .arg("scripts/openapi-gate.sh")
        .current_dir(dir)
        .env("CONFORMANCE_BIN", env!("CARGO_BIN_EXE_conformance"))
        .env_remove("OPENAPI_BASE_REV")
        .output()
        .expect("the gate runs")
}

fn drop_health(yaml: String) -> String {
    let start = yaml.find("  /health:\n").unwrap();
    let end = yaml.find("  /readyz:\n").unwrap();
    format!("{}{}", &yaml[..start], &yaml[end..])
}

#[test]
fn the_first_commit_is_only_validated() {
    let repo = repo();
    let dir = repo.path();
    let out = gate(dir);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(said(&out).contains("validation only"), "{}", said(&out));
}

#[test]
fn an_undeclared_breaking_change_fails_the_gate() {
    let repo = repo();
    let dir = repo.path();
    edit(dir, drop_health, "Tidy the probes");
    let out = gate(dir);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    let t = said(&out);
    assert!(t.contains("path.removed") && t.contains("/health"), "{t}");
    assert!(t.contains("Breaking-Change:"), "{t}");
}

#[test]
fn a_declared_breaking_change_passes() {
    let repo = repo();
    let dir = repo.path();
    edit(
        dir,
        drop_health,
        "Drop /health\n\nBreaking-Change: /healthz is the only liveness path",
    );
    let out = gate(dir);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(said(&out).contains("declared"), "{}", said(&out));
}

#[test]
fn a_compatible_change_passes() {
    let repo = repo();
    let dir = repo.path();
    edit(
        dir,
        |y| {
            y.replacen(
                "summary: Liveness\n",
                "summary: Liveness of the process\n",
                1,
            )
        },
        "Word the liveness summary",
    );
    let out = gate(dir);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(said(&out).contains("0 breaking"), "{}", said(&out));
}

#[test]
fn an_invalid_document_fails_the_gate() {
    let repo = repo();
    let dir = repo.path();
    edit(
        dir,
        |y| y.replacen("openapi: 3.2.0", "openapi: 2.0", 1),
        "Downgrade",
    );
    let out = gate(dir);
    assert_ne!(out.status.code(), Some(0), "{}", said(&out));
}

#[test]
fn an_example_that_contradicts_its_schema_fails_the_gate() {
    let repo = repo();
    let dir = repo.path();
    edit(
        dir,
        |y| y.replacen("owned_by: reference-server}", "owned_by: 42}", 1),
        "Example typo",
    );
    let out = gate(dir);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("the example does not match its schema"),
        "{}",
        said(&out)
    );
}
