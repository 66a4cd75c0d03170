//! The reference server's own shapes (the sampled ones and those of every exchange of a run), recorded in `cases/snapshots/reference-server/` so that a
//! user can diff any deployment against them (`conformance snapshot diff`). Two fresh embedded
//! servers (other ids, timestamps, texts) must both match the recording exactly: the
//! redactions catch every value that changes between runs. After a deliberate change of the
//! server's shapes: `UPDATE_REFERENCE_SHAPES=1 cargo nextest run -p harness --test reference_shapes`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use harness::snapshots::SnapshotOptions;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn recording() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cases/snapshots/reference-server")
}

async fn against_a_fresh_server(update: bool) -> harness::RunResult {
    let server = harness::embedded::start().await.unwrap();
    let url = server.url.clone();
    run_with(&url, |c| {
        c.target = harness::TargetConfig::new(
            &url,
            Some(harness::embedded::KEY.into()),
            Duration::from_secs(20),
        );
        // A whole run: the sampled shapes and every exchange of the other checks. The
        // properties.* checks are not recorded; they are left out to save their time.
        c.skip = vec!["properties.*".into()];
        // As `conformance run` against the embedded server: its limit is past 400 requests.
        c.options.burst_max = 2000;
        c.options.second_api_key = Some(harness::embedded::SECOND_KEY.into());
        c.options.snapshots = Some(Arc::new(SnapshotOptions {
            dir: recording(),
            update,
            strict: true,
            target: "reference-server (embedded)".into(),
        }));
    })
    .await
}

#[tokio::test]
async fn the_reference_servers_shapes_are_recorded_and_stable_across_runs() {
    if std::env::var_os("UPDATE_REFERENCE_SHAPES").is_some() {
        against_a_fresh_server(true).await;
        harness::snapshots::accept(&recording()).unwrap();
    }
    for _ in 0..2 {
        let result = against_a_fresh_server(false).await;
        let report = harness::Report::text(&result);
        assert!(!result.failed(), "{report}");
        let snapshots: Vec<_> = result
            .checks
            .iter()
            .filter(|c| c.area == "snapshots")
            .collect();
        assert_eq!(snapshots.len(), 6, "{report}");
        assert!(
            snapshots
                .iter()
                .all(|c| matches!(c.outcome, harness::Outcome::Passed)),
            "{report}"
        );
    }
    let files = std::fs::read_dir(recording())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "snap")
        })
        .count();
    // 13 sampled exchanges, and the distinct shapes of the other checks' exchanges.
    assert!(
        files > 13 + 80,
        "{files} files: one per sampled exchange and per distinct shape"
    );
}
