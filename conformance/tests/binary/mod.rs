//! The one way the tests run the `conformance` binary: without the target, keys or CI
//! variables of whoever runs them, and, from async tests, off the runtime that keeps serving
//! their mock servers.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The binary, its environment cleared of what would change its target or credentials.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_conformance"));
    for var in [
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "CONFORMANCE_SECOND_API_KEY",
        "JUDGE_API_KEY",
        "EMBEDDING_API_KEY",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs it with `args` and waits.
pub fn conformance(args: &[&str]) -> Output {
    command()
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run conformance: {e}"))
}

/// Runs it with `args` and these variables set.
pub fn conformance_with_env(args: &[&str], vars: &[(&str, &str)]) -> Output {
    command()
        .args(args)
        .envs(vars.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run conformance: {e}"))
}

/// Runs it with `args` in `dir` (where `reports/` and `cases/` are looked for).
pub fn conformance_in_dir(dir: &Path, args: &[&str]) -> Output {
    command()
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run conformance: {e}"))
}

/// As [`conformance`], from an async test: on a blocking thread, so the test's runtime keeps
/// serving its mock servers meanwhile.
pub async fn conformance_async(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        conformance(&args)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// As [`conformance_with_env`], from an async test.
pub async fn conformance_with_env_async(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        conformance_with_env(&args, &vars)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// As [`conformance_in_dir`], from an async test.
pub async fn conformance_in(dir: &Path, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        conformance_in_dir(&dir, &args)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Everything it said: stdout, then stderr.
pub fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
