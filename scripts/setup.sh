#!/usr/bin/env bash
# Set up everything gisgrid needs on a Debian/Ubuntu machine:
#   Debian packages (PostgreSQL + PostGIS, CJK fonts; with --test also Chromium
#   and poppler-utils) and a Python virtual environment in .venv with gisgrid installed.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_TEST=0
if [[ "${1:-}" == "--test" ]]; then WITH_TEST=1; fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

missing=()
need() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || missing+=("$1"); }

apt_updated=0
apt_update() { if [[ $apt_updated -eq 0 ]]; then $SUDO apt-get update -qq; apt_updated=1; fi; }

# PostgreSQL 15 + PostGIS 3 on Debian 12; on other releases the distribution's own major version.
PG_MAJOR="${GISGRID_PG_MAJOR:-}"
if [[ -z "$PG_MAJOR" ]]; then
  if dpkg-query -W postgresql-15-postgis-3 >/dev/null 2>&1 || apt-cache show postgresql-15-postgis-3 >/dev/null 2>&1; then
    PG_MAJOR=15
  else
    apt_update
    PG_MAJOR=$(apt-cache depends postgresql 2>/dev/null | sed -n 's/.*Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -1)
    PG_MAJOR=${PG_MAJOR:-15}
  fi
fi

for pkg in "postgresql-$PG_MAJOR" "postgresql-$PG_MAJOR-postgis-3" fonts-noto-cjk python3-venv; do need "$pkg"; done
if [[ $WITH_TEST -eq 1 ]]; then
  # nodejs: the front-end scripts are checked and their pure parts tested as JavaScript.
  for pkg in chromium poppler-utils nodejs; do need "$pkg"; done
fi

PYTHON="${PYTHON:-python3}"
# python3-venv is only needed by Debian's own python3; a python built elsewhere (pyenv) has venv.
if "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing=("${missing[@]/python3-venv}")
fi
pkgs=()
for p in "${missing[@]}"; do
  if [[ -n "$p" ]]; then pkgs+=("$p"); fi
done
if [[ ${#pkgs[@]} -gt 0 ]]; then
  echo "setup: installing Debian packages: ${pkgs[*]}"
  apt_update
  $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

# The Debian postgresql package starts a system cluster on port 5432; gisgrid runs its
# own private cluster and does not need or touch that one.

"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"gisgrid needs Python 3.11 or newer; {sys.executable} is {sys.version.split()[0]}")
PY

if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
# Python packages: exactly requirements/tools.txt (pip itself, uv) and requirements/lock.txt
# (setup.cfg's requirements with the test extra, and the build backend), every file checked
# against its locked hash; gisgrid itself without dependencies.  Installed again whenever the
# lock (or setup.cfg) changes.  bash scripts/lock.sh refreshes the lock.
stamp=".venv/.installed-lock"
want=$(cat requirements/tools.txt requirements/lock.txt setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "setup: installing Python packages into .venv from requirements/lock.txt"
  .venv/bin/python -m pip install -q --require-hashes -r requirements/tools.txt
  .venv/bin/python -m pip install -q --require-hashes -r requirements/lock.txt
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  echo "$want" >"$stamp"
fi
if ! .venv/bin/python -m pip check >/dev/null; then
  .venv/bin/python -m pip check >&2 || true
  echo "setup: the installed packages do not fit together; if setup.cfg changed, run bash scripts/lock.sh" >&2
  exit 1
fi
# matplotlib (if present) caches its font list; fonts installed after that are invisible.
rm -f ~/.cache/matplotlib/fontlist-*.json 2>/dev/null || true
echo "setup: ready"
