#!/usr/bin/env bash
# deploy/prometheus-rules.yaml: `promtool check rules` accepts it, and `promtool test rules`
# (tests/prometheus/rules_test.yaml) shows each alert firing on the series that should trip
# it and quiet before. Skipped (77) when promtool is not installed (Debian: prometheus).
set -euo pipefail

: "${TNL_SOURCE_DIR:?set by ctest}"
if ! command -v promtool >/dev/null 2>&1; then
  echo "SKIPPED: promtool is not installed (Debian: prometheus; scripts/install-deps.sh installs it)"
  exit 77
fi
cd "$TNL_SOURCE_DIR"
promtool check rules deploy/prometheus-rules.yaml
promtool test rules tests/prometheus/rules_test.yaml
echo "PASS: deploy/prometheus-rules.yaml checks and its alerts fire as tested"
