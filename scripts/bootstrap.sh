#!/usr/bin/env bash
# Create the virtual environment and install graphstore with its dev tools (PyTorch included).
# uv keeps a download cache (~/.cache/uv), so a fresh clone installs from it in seconds after the first time.
set -euo pipefail
PYTHON=${1:-python3}
VENV=${2:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -x "$VENV/bin/uv" ]; then
  "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || "$VENV/bin/python" -m ensurepip --upgrade >/dev/null
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv
fi
# --compile-bytecode: PYTHONDONTWRITEBYTECODE may be set, and then every process would compile torch again
"$VENV/bin/uv" pip install --quiet --compile-bytecode --python "$VENV/bin/python" -e ".[dev]"
"$VENV/bin/python" -c "import torch, graphstore; print(f'graphstore ready (torch {torch.__version__})')"
