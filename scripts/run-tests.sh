#!/usr/bin/env bash
# The whole suite against real servers: start Neo4j (+GDS, APOC, Browser) and PostgreSQL in a temporary run
# dir, export their addresses for the tests, run ruff and pytest, and stop the servers whatever happens.
set -euo pipefail
BIN=${VENV:-.venv}/bin
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/graphstore-test-XXXXXX")
chmod 755 "$RUN_DIR"   # PostgreSQL runs as the postgres user when we are root
cleanup() {
  "$BIN/graphstore" services stop --purge --run-dir "$RUN_DIR" || true
  rm -rf "$RUN_DIR" || true
}
trap cleanup EXIT
"$BIN/graphstore" services start --run-dir "$RUN_DIR"
eval "$("$BIN/graphstore" services env --run-dir "$RUN_DIR")"
export GRAPHSTORE_REQUIRE_SERVERS=1
"$BIN/ruff" check graphstore tests bench
"$BIN/pytest" -q -p no:cacheprovider "$@"
