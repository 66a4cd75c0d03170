//! `<report-dir>/latest`: where the last run of any command wrote its reports, and
//! `--baseline latest`: the newest earlier run that has the file a comparison reads.

use crate::error::HarnessError;
use std::path::{Path, PathBuf};

/// The name of the pointer inside the report directory.
pub const LATEST: &str = "latest";

/// Points `<dir>/latest` at `<dir>/<run_id>`: a relative symlink where the system has them,
/// else a small file holding the run id. The pointer is replaced in one rename, so a reader
/// never sees it missing. A `latest` that is a real directory is left alone (it is someone's).
pub fn point(dir: &Path, run_id: &str) -> Result<(), HarnessError> {
    let link = dir.join(LATEST);
    if link.is_dir() && !link.is_symlink() {
        return Ok(());
    }
    let staged = dir.join(format!(".{LATEST}-{run_id}"));
    let _ = std::fs::remove_file(&staged);
    let made = make_link(run_id, &staged)
        .or_else(|_| std::fs::write(&staged, format!("{run_id}\n")))
        .and_then(|()| std::fs::rename(&staged, &link));
    made.map_err(|source| {
        let _ = std::fs::remove_file(&staged);
        HarnessError::Io {
            context: format!("cannot point {} at {run_id}", link.display()),
            source,
        }
    })
}

#[cfg(unix)]
fn make_link(run_id: &str, at: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(run_id, at)
}

#[cfg(not(unix))]
fn make_link(_: &str, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other("no symlinks here"))
}

/// The newest run under `dir` that holds `file`, by that file's time (run ids start with the
/// time; the name breaks ties within a second); `None` when none does or `dir` cannot be read.
pub(crate) fn newest(dir: &Path, file: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != LATEST && !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| {
            let modified = std::fs::metadata(e.path().join(file))
                .and_then(|m| m.modified())
                .ok()?;
            Some(((modified, e.file_name()), e.path()))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, path)| path)
}

/// The run directory `given` names: itself, or for `latest` the newest run under `dir` that
/// holds `file` (`results.jsonl` for eval, `latency.json` for latency), so the last run of
/// another command is passed over. The pointer `latest` is not trusted for this: it may name a
/// run of another command.
pub fn resolve(given: &Path, dir: &Path, file: &str) -> Result<PathBuf, HarnessError> {
    if given != Path::new(LATEST) || given.exists() {
        return Ok(given.to_owned());
    }
    if let Err(source) = std::fs::read_dir(dir) {
        return Err(HarnessError::Io {
            context: format!(
                "--baseline latest: cannot read the report directory {}",
                dir.display()
            ),
            source,
        });
    }
    newest(dir, file).ok_or_else(|| {
        HarnessError::Usage(format!(
            "--baseline latest: no run in {} has a {file} yet; run once without --baseline first",
            dir.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_follows_the_last_run_and_the_baseline_the_newest_of_its_kind() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = tmp.path();
        for (id, file) in [
            ("20260101T000000Z-aaaaaa", "results.jsonl"),
            ("20260101T000001Z-bbbbbb", "latency.json"),
        ] {
            std::fs::create_dir_all(dir.join(id)).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(dir.join(id).join(file), "x").unwrap_or_else(|e| panic!("{e}"));
            point(dir, id).unwrap_or_else(|e| panic!("{e}"));
        }
        let pointed = std::fs::read_dir(dir.join(LATEST)).map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name())
                .collect::<Vec<_>>()
        });
        assert_eq!(pointed.ok(), Some(vec!["latency.json".into()]));
        let eval = resolve(Path::new(LATEST), dir, "results.jsonl").map_err(|e| e.to_string());
        assert_eq!(eval, Ok(dir.join("20260101T000000Z-aaaaaa")));
        let given = resolve(Path::new("some/dir"), dir, "latency.json").map_err(|e| e.to_string());
        assert_eq!(given, Ok(PathBuf::from("some/dir")));
        let none = resolve(Path::new(LATEST), dir, "eval.json").map_err(|e| e.to_string());
        assert!(none.is_err_and(|e| e.contains("no run in") && e.contains("eval.json")));
    }

    #[test]
    fn a_real_directory_named_latest_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(tmp.path().join(LATEST).join("mine"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(point(tmp.path(), "r1").is_ok());
        assert!(tmp.path().join(LATEST).join("mine").is_dir());
    }
}
