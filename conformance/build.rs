//! Records the git commit, for `--version`.

#[path = "../build-support/commit.rs"]
mod commit;

fn main() {
    commit::emit("CONFORMANCE_GIT_COMMIT");
}
