#!/usr/bin/env bash
# The OpenAPI gate: validates schemas/openapi.yaml (its structure, and every example against
# its schema), then diffs it against the copy in a base revision (default: the previous
# commit) and fails on a breaking change, unless the commit message declares it with a
# "Breaking-Change:" line or "[breaking]".
#
#   scripts/openapi-gate.sh              # HEAD~1 -> working tree
#   OPENAPI_BASE_REV=origin/main scripts/openapi-gate.sh
#
# Exit: 0 fine, 1 undeclared breaking change or an invalid document, 2 usage/setup errors.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${CONFORMANCE_BIN:-target/debug/conformance}
if [ ! -x "$bin" ]; then
  cargo build -q -p conformance
fi

echo "== validate schemas/openapi.yaml (structure and examples)"
"$bin" openapi validate --examples schemas/openapi.yaml

base=${OPENAPI_BASE_REV:-HEAD~1}
if ! git rev-parse -q --verify "$base^{commit}" >/dev/null 2>&1; then
  if [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = "true" ]; then
    git fetch -q --deepen=1 2>/dev/null || true
  fi
fi
if ! git rev-parse -q --verify "$base^{commit}" >/dev/null 2>&1; then
  echo "== no $base to diff against (first commit or shallow clone); validation only"
  exit 0
fi
if ! git cat-file -e "$base:schemas/openapi.yaml" 2>/dev/null; then
  echo "== $base has no schemas/openapi.yaml; validation only"
  exit 0
fi

# The base document with the schema files it refers to, as they were.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$base" schemas | tar -x -C "$tmp"

echo "== diff $base:schemas/openapi.yaml -> schemas/openapi.yaml"
set +e
"$bin" openapi diff --base "$tmp/schemas/openapi.yaml" --cand schemas/openapi.yaml
code=$?
set -e
case $code in
  0) exit 0 ;;
  1)
    message=$(git log -1 --format=%B HEAD)
    if printf '%s\n' "$message" | grep -qiE '^Breaking-Change:|\[breaking\]'; then
      echo "== breaking changes declared by the commit message; accepted"
      exit 0
    fi
    echo "== breaking changes to the API; declare them in the commit message with a" >&2
    echo "   'Breaking-Change: <why>' line (or '[breaking]') if they are intended" >&2
    exit 1
    ;;
  *) exit "$code" ;;
esac
