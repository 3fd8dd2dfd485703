#!/usr/bin/env bash
# Every benchmark against its anchor, with a Neo4j server for the ones that write to it. Results go to stdout;
# record them in bench/RESULTS.md with the machine line and the load average.
set -euo pipefail
BIN=${VENV:-.venv}/bin
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/graphstore-bench-XXXXXX")
chmod 755 "$RUN_DIR"
cleanup() {
  "$BIN/graphstore" services stop --purge --run-dir "$RUN_DIR" || true
  rm -rf "$RUN_DIR" || true
}
trap cleanup EXIT
"$BIN/graphstore" services start --no-postgres --run-dir "$RUN_DIR"
eval "$("$BIN/graphstore" services env --run-dir "$RUN_DIR")"
for name in ${BENCHES:-ingest train imp topology coactivation knn class_graph multilayer communities hierarchy}; do
  echo "== bench.$name (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  "$BIN/python" -W ignore -m "bench.$name"
done
