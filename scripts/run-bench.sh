#!/usr/bin/env bash
# Every benchmark against its anchors and floors, with a local Neo4j server (started here in a temporary run dir
# and stopped and purged at the end, whatever happens) for the ones that write to it, including the offline
# importer anchor of bench.ingest. Each benchmark prints its lines and stores its records (ours, anchor, floor,
# ratios, machine, load before / after, date) in bench/results.json, beside bench/RESULTS.md; a benchmark that is
# rerun replaces its own records only. bench.first_write starts fresh servers of its own (first write after a
# start vs a warm write, with and without the start's warm-up). BENCHES="knn imp" runs a subset;
# BENCH_ARGS="--quick" passes flags to each.
set -euo pipefail
BIN=${VENV:-.venv}/bin
export GRAPHSTORE_BENCH_RESULTS=${GRAPHSTORE_BENCH_RESULTS:-$PWD/bench/results.json}
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/graphstore-bench-XXXXXX")
chmod 755 "$RUN_DIR"
cleanup() {
  "$BIN/graphstore" services stop --purge --run-dir "$RUN_DIR" || true
  rm -rf "$RUN_DIR" || true
}
trap cleanup EXIT
"$BIN/graphstore" services start --no-postgres --run-dir "$RUN_DIR"
eval "$("$BIN/graphstore" services env --run-dir "$RUN_DIR")"
for name in ${BENCHES:-ingest first_write train imp topology coactivation knn class_graph multilayer communities hierarchy cli_startup foreign_models}; do
  echo "== bench.$name (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  extra=()
  if [ "$name" = ingest ]; then extra=(--run-dir "$RUN_DIR"); fi
  # shellcheck disable=SC2086
  "$BIN/python" -W ignore -m "bench.$name" "${extra[@]}" ${BENCH_ARGS:-}
done
echo "results: $GRAPHSTORE_BENCH_RESULTS"
