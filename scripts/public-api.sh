#!/usr/bin/env bash
# The public surface of a library crate, as its documentation shows it: the modules a user can
# reach and the items rustdoc gives a page (functions, structs, enums, traits, constants,
# types). Usage: scripts/public-api.sh [crate]   (default: harness)
set -euo pipefail
crate="${1:-harness}"
cd "$(dirname "$0")/.."
dir="target/doc/${crate//-/_}"
rm -rf "$dir"
cargo doc -q -p "$crate" --no-deps
cd "$dir"
echo "$crate: $(find . -name index.html | xargs grep -L 'http-equiv="refresh"' | wc -l) public modules (the root included)"
# rustdoc leaves a redirect page where a re-exported item is defined; those are not items.
find . -name '*.html' ! -name index.html ! -name all.html \
  | xargs grep -L 'http-equiv="refresh"' \
  | sed -E 's#.*/([a-z]+)\.[^/]*\.html#\1#' | sort | uniq -c \
  | awk '{ printf "  %4d %s\n", $1, $2; total += $1 } END { printf "  %4d items in all\n", total }'
