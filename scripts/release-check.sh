#!/usr/bin/env bash
# The release, as far as it goes without uploading: `dist plan` (the generated release workflow
# is up to date with dist-workspace.toml), then `dist build` for this machine's target (the
# archives, their SHA-256 files and the shell installer; the PowerShell one is made with the
# Windows builds), then the built binaries from the archives:
# `conformance --version` and the embedded `run`, `reference-server --version` and a start.
#
#   scripts/release-check.sh
#   scripts/release-check.sh --install-only       # cargo-dist from crates.io (a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^cargo-dist-version = "\(.*\)"/\1/p' dist-workspace.toml)
root=.compat-tools/dist-$version
dist=$root/bin/dist
if [ ! -x "$dist" ]; then
  echo "== installing cargo-dist $version into $root"
  env -u RUSTC_WORKSPACE_WRAPPER -u RUSTFLAGS cargo install --quiet --locked cargo-dist --version "$version" --root "$root"
fi
[ "${1:-}" = --install-only ] && exit 0

"$dist" plan > /dev/null
target=$(rustc -vV | sed -n 's/^host: //p')
rm -rf target/distrib
"$dist" build --artifacts=all --target "$target" --allow-dirty > /dev/null
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
server=
for app in conformance reference-server; do
  archive=target/distrib/$app-$target.tar.xz
  [ -f "$archive" ] || { echo "release-check: no $archive" >&2; exit 1; }
  (cd target/distrib && sha256sum -c "$app-$target.tar.xz.sha256" > /dev/null)
  [ -f "target/distrib/$app-installer.sh" ] || { echo "release-check: no $app-installer.sh" >&2; exit 1; }
  tar -xJf "$archive" -C "$work"
done
bin=$work/conformance-$target/conformance
"$bin" --version
"$bin" run --seed 7 --no-reports 2> /dev/null | tail -1
server_bin=$work/reference-server-$target/reference-server
"$server_bin" --version
REFSERVER_INDEX_PATH=:memory: "$server_bin" --port 0 --quiet > "$work/server.out" 2> /dev/null &
server=$!
for _ in $(seq 1 50); do grep -q listening "$work/server.out" && break; sleep 0.1; done
url=$(awk '{print $3}' "$work/server.out")
curl -fsS "$url/readyz" > /dev/null
echo "release-check: $target archives, checksums and installers built; both binaries run"
