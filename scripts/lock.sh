#!/usr/bin/env bash
# Refresh the locked Python dependencies — the one way to change them:
#   requirements/lock.txt   setup.cfg's install_requires + the test extra + requirements/build.in
#   requirements/tools.txt  requirements/tools.in (pip and uv themselves)
# every package pinned to one version with the sha256 of each of its files, resolved for
# every Python and platform setup.cfg allows (uv's universal resolution).
#
#   bash scripts/lock.sh                            after editing setup.cfg: add what it added, drop
#                                                   what it dropped, keep every other pin as it is
#   bash scripts/lock.sh --upgrade-package NAME     move NAME (and what it needs) to the newest allowed
#   bash scripts/lock.sh --upgrade                  move everything to the newest allowed versions
#
# Then `bash scripts/setup.sh` installs the new lock (it notices the change), run the tests,
# and commit requirements/ with setup.cfg.  Only PyPI is asked; a rerun takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

uv_version=$(sed -n 's/^uv==\([^ ;#]*\).*/\1/p' requirements/tools.in)
if [[ -z "$uv_version" ]]; then
  echo "lock: requirements/tools.in pins no uv (expected a line uv==X.Y.Z)" >&2
  exit 1
fi
# uv from .venv when it is the pinned one (setup.sh installs it), else a private copy
# installed from the hashes in requirements/tools.txt.
uv=.venv/bin/uv
if [[ ! -x $uv || "$($uv --version 2>/dev/null | cut -d' ' -f2)" != "$uv_version" ]]; then
  boot="${XDG_CACHE_HOME:-$HOME/.cache}/gisgrid/lock-uv-$uv_version"
  if [[ ! -x "$boot/bin/uv" ]]; then
    echo "lock: installing uv $uv_version into $boot"
    "${PYTHON:-python3}" -m venv "$boot"
    if grep -q "^uv==$uv_version " requirements/tools.txt 2>/dev/null; then
      "$boot/bin/python" -m pip install -q --require-hashes -r requirements/tools.txt
    else  # tools.in moved to a uv that tools.txt does not hold yet
      "$boot/bin/python" -m pip install -q "uv==$uv_version"
    fi
  fi
  uv="$boot/bin/uv"
fi

# "name version" per pinned package, names normalised (PEP 503), sorted for join.
pins() {
  sed -n 's/^\([A-Za-z0-9][A-Za-z0-9._-]*\)==\([^ ;\\]*\).*/\1 \2/p' "$1" 2>/dev/null \
    | awk '{ n = tolower($1); gsub(/[._]+/, "-", n); print n, $2 }' | LC_ALL=C sort -u
}
before=$(mktemp)
trap 'rm -f "$before"' EXIT
pins requirements/lock.txt >"$before"

# An existing output file is where uv takes its preferences from: pins that still satisfy
# setup.cfg stay, so a rerun changes only what the inputs changed.
compile=("$uv" pip compile --quiet --universal --generate-hashes --no-strip-markers
         --custom-compile-command "bash scripts/lock.sh")
"${compile[@]}" "$@" --extra test -o requirements/lock.txt setup.cfg requirements/build.in
"${compile[@]}" "$@" -o requirements/tools.txt requirements/tools.in

# What changed, for the commit message (a package may hold two pins, one per Python range).
after=$(pins requirements/lock.txt)
changes=$( { LC_ALL=C comm -23 "$before" <(echo "$after") | sed 's/^/  - /'
             LC_ALL=C comm -13 "$before" <(echo "$after") | sed 's/^/  + /'; } )
if [[ -z "$changes" ]]; then
  echo "lock: requirements/lock.txt unchanged ($(echo "$after" | wc -l) pins)"
else
  echo "lock: requirements/lock.txt changed:"
  echo "$changes"
fi
