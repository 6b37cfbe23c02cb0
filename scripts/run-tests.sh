#!/usr/bin/env bash
# One command: set everything up (including Chromium for the browser tests) and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
