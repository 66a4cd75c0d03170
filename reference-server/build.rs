//! Records the git commit, for `info.x-service-version` in `/openapi.json` and `--version`.

#[path = "../build-support/commit.rs"]
mod commit;

fn main() {
    commit::emit("REFSERVER_GIT_COMMIT");
}
