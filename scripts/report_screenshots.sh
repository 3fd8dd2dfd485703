#!/usr/bin/env bash
# Retake the report screenshots in docs/img (docs/REPORTS.md shows them): the screenshot tests
# (tests/test_report_screens.py) write one palette PNG per kind of report when GRAPHSTORE_SCREENSHOT_DIR is set.
# Needs Chromium and chromedriver (apt-get install -y chromium chromium-driver). Usage: scripts/report_screenshots.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}"
GRAPHSTORE_SCREENSHOT_DIR="$PWD/docs/img" "$venv/bin/pytest" -q tests/test_report_screens.py
ls -l docs/img/report-*.png
