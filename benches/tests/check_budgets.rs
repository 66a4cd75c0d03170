//! `check-budgets` on criterion estimates written here: a budget met, one broken, a
//! benchmark never measured (a failure, not a pass), and a bad budgets file (exit 2, line).

use std::path::Path;
use std::process::Command;

fn estimate(dir: &Path, id: &str, median_ns: f64) {
    let d = dir.join(id).join("new");
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    let json = format!("{{\"median\": {{\"point_estimate\": {median_ns}}}}}");
    std::fs::write(d.join("estimates.json"), json).unwrap_or_else(|e| panic!("{e}"));
}

fn check(dir: &Path, budgets: &str) -> (Option<i32>, String) {
    let file = dir.join("budgets.toml");
    std::fs::write(&file, budgets).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(env!("CARGO_BIN_EXE_check-budgets"))
        .args(["--budgets", &file.display().to_string()])
        .args(["--criterion", &dir.display().to_string()])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

fn budget(bench: &str, baseline: &str, ratio: f64) -> String {
    format!("[[budget]]\nbench = \"{bench}\"\nbaseline = \"{baseline}\"\nmax_ratio = {ratio}\nwhy = \"test\"\n")
}

#[test]
fn budgets_hold_break_or_lack_a_measurement() {
    let dir = std::env::temp_dir().join(format!("check-budgets-{}", std::process::id()));
    estimate(&dir, "route/a", 300.0);
    estimate(&dir, "bare/a", 100.0);
    let (code, text) = check(&dir, &budget("route/a", "bare/a", 3.5));
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("3.00") && text.contains("every budget met"),
        "{text}"
    );
    let (code, text) = check(&dir, &budget("route/a", "bare/a", 2.5));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("OVER BUDGET"), "{text}");
    let (code, text) = check(&dir, &budget("route/missing", "bare/a", 100.0));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("no measurement of route/missing"), "{text}");
    let (code, text) = check(
        &dir,
        "[[budget]]\nbench = \"x\"\nbaseline = \"y\"\nmax_ratio = \"big\"\nwhy = \"z\"\n",
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("budgets.toml:4:"), "{text}");
    let (code, text) = check(&dir, &budget("route/a", "bare/a", 0.0));
    assert_eq!(code, Some(2), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
