#!/usr/bin/env bash
# One command: set everything up, load the demonstration city into a private local
# PostGIS and serve its maps at http://127.0.0.1:5000/ (Ctrl+C stops the web app).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/gisgrid demo --sample-record --serve --host "${GISGRID_HOST:-127.0.0.1}" --port "${GISGRID_PORT:-5000}" "$@"
