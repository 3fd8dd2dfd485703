#!/usr/bin/env bash
# The whole suite against real servers: start Neo4j (+GDS, APOC, Browser) and PostgreSQL in a temporary run
# dir, export their addresses for the tests, run pytest, and stop the servers whatever happens. Lint (ruff check,
# ruff format --check) and the type check (mypy, scripts/typecheck.sh) run first, before any server starts.
set -euo pipefail
VENV=${VENV:-.venv}
BIN=$VENV/bin
LINTED="graphstore cli migrations tests bench"
# shellcheck disable=SC2086
"$BIN/ruff" check $LINTED
# shellcheck disable=SC2086
"$BIN/ruff" format --check $LINTED
bash scripts/typecheck.sh "$VENV"
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/graphstore-test-XXXXXX")
chmod 755 "$RUN_DIR"   # PostgreSQL runs as the postgres user when we are root
cleanup() {
  "$BIN/graphstore" services stop --purge --run-dir "$RUN_DIR" || true
  rm -rf "$RUN_DIR" || true
}
trap cleanup EXIT
# graph-tool (nested SBM) is optional; as root, install Debian's package so its tests run here too
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! python3 -c "import graph_tool" 2>/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-graph-tool) >/dev/null 2>&1 \
    || echo "python3-graph-tool could not be installed: the nested-SBM test checks its error path instead"
fi
# Chromium + chromedriver drive Neo4j Browser in tests/test_browser.py; as root, install Debian's packages (the test
# fails, never skips, with this install command when they are missing)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! { command -v chromium && command -v chromedriver; } >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1 \
    || echo "chromium could not be installed: tests/test_browser.py will fail (apt-get install -y chromium chromium-driver)"
fi
"$BIN/graphstore" services start --no-warm-up --run-dir "$RUN_DIR"  # the suite times nothing; tests/test_services_warmup.py tests the warm-up
eval "$("$BIN/graphstore" services env --run-dir "$RUN_DIR")"
export GRAPHSTORE_REQUIRE_SERVERS=1
"$BIN/pytest" -q -p no:cacheprovider "$@"
