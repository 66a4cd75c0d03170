#!/usr/bin/env bash
# The action's install step: the released `conformance` binary for this runner (its SHA-256
# checked against the release's), or, when no release matches, a build from the action's own
# source with cargo. Prints the binary's directory for $GITHUB_PATH.
#
#   VERSION=v0.2.0 REPO=owner/conformance-kit scripts/action-install.sh
#   VERSION=source scripts/action-install.sh           # always build
#   VERSION=installed scripts/action-install.sh        # the conformance already on PATH
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
version=${VERSION:-}
repo=${REPO:-}
dest=${RUNNER_TEMP:-/tmp}/conformance-bin
mkdir -p "$dest"

triple() {
  local arch os
  case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) return 1 ;;
  esac
  case "$(uname -s)" in
    Linux) os=unknown-linux-gnu ;;
    Darwin) os=apple-darwin ;;
    MINGW* | MSYS* | CYGWIN*) os=pc-windows-msvc ;;
    *) return 1 ;;
  esac
  echo "$arch-$os"
}

released() {
  [ -n "$version" ] && [ "$version" != source ] && [ -n "$repo" ] || return 1
  local t archive base
  t=$(triple) || return 1
  case "$t" in *windows*) archive="conformance-$t.zip" ;; *) archive="conformance-$t.tar.xz" ;; esac
  base="https://github.com/$repo/releases/download/$version"
  curl -fsSL --retry 3 -o "$dest/$archive" "$base/$archive" || return 1
  curl -fsSL --retry 3 -o "$dest/$archive.sha256" "$base/$archive.sha256" || return 1
  local want got
  want=$(awk '{print $1}' "$dest/$archive.sha256")
  got=$( (sha256sum "$dest/$archive" 2>/dev/null || shasum -a 256 "$dest/$archive") | awk '{print $1}')
  if [ "$want" != "$got" ]; then
    echo "action-install: $archive does not match its checksum ($got, the release says $want)" >&2
    exit 1
  fi
  case "$archive" in
    *.zip) unzip -q -o "$dest/$archive" -d "$dest" ;;
    *) tar -xJf "$dest/$archive" -C "$dest" ;;
  esac
  # cargo-dist archives hold a directory named after the archive.
  local bin
  bin=$(find "$dest" -type f \( -name conformance -o -name conformance.exe \) | head -1)
  [ -n "$bin" ] || return 1
  dirname "$bin"
}

if [ "$version" = installed ]; then
  bin=$(command -v conformance) || { echo "action-install: version 'installed', but no conformance on PATH" >&2; exit 1; }
  echo "action-install: $("$bin" --version) (installed)" >&2
  dirname "$bin"
  exit 0
fi
if dir=$(released); then
  echo "action-install: conformance $version (released, checksum verified)" >&2
else
  echo "action-install: no release for ${version:-this ref} on this runner: building from source" >&2
  cargo install --locked --quiet --path "$here/conformance" --root "$dest" >&2
  dir="$dest/bin"
fi
echo "$dir"
