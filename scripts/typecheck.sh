#!/usr/bin/env bash
# mypy over graphstore as installed: cli/, cypher/ and migrations/ live at the repository root but install as
# graphstore.cli/.cypher/.migrations, which mypy cannot see through the editable finder. So build a symlink tree of the
# installed layout under build/typecheck and run `mypy -p graphstore` there ([tool.mypy] in pyproject.toml).
set -euo pipefail
VENV=${1:-.venv}
shift || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MYPY=$(cd "$(dirname "$VENV/bin/mypy")" && pwd)/mypy
TREE="$ROOT/build/typecheck"
rm -rf "$TREE/graphstore"
mkdir -p "$TREE/graphstore"
for entry in "$ROOT"/graphstore/*; do
  case "$(basename "$entry")" in __pycache__|cli|cypher|migrations) continue ;; esac
  ln -s "$entry" "$TREE/graphstore/"
done
for sub in cli cypher migrations; do
  ln -s "$ROOT/$sub" "$TREE/graphstore/$sub"
done
cd "$TREE"
"$MYPY" --config-file "$ROOT/pyproject.toml" --cache-dir "$TREE/.mypy_cache" "$@" \
  | sed -E 's#^graphstore/(cli|cypher|migrations)/#\1/#'
