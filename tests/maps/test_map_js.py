"""The front-end scripts as JavaScript: every file parses, the map's pure parts are tested in
Node, and no map code is left in Python strings (issue 13: "read, linted and tested as
JavaScript")."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gisgrid.maps import grid_map
from gisgrid.maps.assets import VENDOR_DIR
from gisgrid.maps.grid_map import MAP_SCRIPTS

JS_DIR = VENDOR_DIR.parent / "js"
OWN_SCRIPTS = sorted(JS_DIR.rglob("*.js"))


def node() -> str:
    found = shutil.which("node") or shutil.which("nodejs")
    assert found, "Node.js is needed (scripts/setup.sh --test installs the Debian package nodejs)"
    return found


def run_node(source: str) -> object:
    """Run `source` in Node with the map scripts loaded on a bare `window`; its JSON output."""
    loader = "".join(
        f"vm.runInThisContext(fs.readFileSync({json.dumps(str(JS_DIR / 'map' / f'{name}.js'))}, 'utf8'));\n"
        for name in MAP_SCRIPTS)
    program = "const fs = require('fs'), vm = require('vm');\nglobalThis.window = globalThis;\n" + loader + source
    done = subprocess.run([node(), "-e", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_there_are_scripts_and_the_map_ones_are_all_linked():
    assert {p.stem for p in (JS_DIR / "map").glob("*.js")} == set(MAP_SCRIPTS)
    assert {"plan", "stats", "exports"} <= {p.stem for p in OWN_SCRIPTS}


@pytest.mark.parametrize("path", OWN_SCRIPTS, ids=lambda p: str(p.relative_to(JS_DIR)))
def test_every_script_parses_and_is_strict(path):
    done = subprocess.run([node(), "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"use strict";' in path.read_text(encoding="utf-8")


def test_no_map_code_is_left_in_python_strings():
    # Each element's script macro only calls gisgridMap with data: one statement or a
    # variable for the layer switcher, never a function of its own.
    source = Path(grid_map.__file__).read_text(encoding="utf-8")
    scripts = re.findall(r"\{% macro script\(this, kwargs\) %\}(.*?)\{% endmacro %\}", source, re.S)
    assert len(scripts) >= 8
    for body in scripts:
        assert "function" not in body and "=>" not in body, body
        assert "gisgridMap." in body, body
        assert len([line for line in body.splitlines() if line.strip()]) <= 4, body
    assert "function (" not in source.replace('"gisgridMap.clusterRadius"', "")


def test_label_placement_moves_a_label_aside_and_gives_up_when_no_spot_is_free():
    result = run_node("""
const P = window.gisgridMap.labelPlacement;
function item(x, y) {  // a 40×20 px label of a grid 60 px in radius, area 200×200 px at zoom 0
  return {at: {x: x, y: y}, w: 40, h: 20, radiusPx: 60, halfDiagonal: Math.hypot(40, 20) / 2,
          fits: true, sidePx: 200};
}
const placed = [];
const first = P.place(item(100, 100), placed);
const second = P.place(item(100, 100), placed);   // the same anchor: must move
const overlaps = placed.length === 2 && !P.free(placed[1], [placed[0]]);
// A point label (radius 0) whose spot is taken is hidden, not moved.
const point = {at: {x: 100, y: 100}, w: 40, h: 20, radiusPx: 0, halfDiagonal: 22, fits: false, sidePx: 0};
const hidden = P.place(point, placed);
// Nothing free anywhere within reach: a wall of boxes around the anchor.
const wall = [[-1000, -1000, 1000, 1000]];
const blocked = P.place(item(100, 100), wall);
console.log(JSON.stringify({first, second, overlaps, hidden, blocked, count: placed.length,
                            mpp: P.metresPerPixel(0, 0)}));
""")
    assert result["first"] == [0, 0]
    assert result["second"] != [0, 0] and result["second"] is not None
    dx, dy = result["second"]
    assert (dx * dx + dy * dy) ** 0.5 <= 60  # stays inside the grid's inscribed circle
    assert result["overlaps"] is False
    assert result["hidden"] is None and result["blocked"] is None and result["count"] == 2
    assert result["mpp"] == pytest.approx(156_543.03, rel=1e-6)  # web-Mercator metres per pixel at z0


def test_popups_escape_hostile_text_and_link_by_credit_code():
    result = run_node("""
const G = window.gisgridMap;
const risk = {label: "<b>高</b>", cls: "gg-risk-3", colour: "#c62828"};
const hostile = {name: '<img src=x onerror="alert(1)">', credit_code: '91"><script>x</script>',
                 grid_code: "{{7*7}}", grid_name: "&amp;", id: 5};
console.log(JSON.stringify({
  html: G.employerPopup(hostile, risk, "/employers/{key}"),
  byId: G.employerPopup({name: "甲", id: 42}, risk, "/employers/{key}"),
  noLink: G.employerPopup({name: "甲", id: 42}, risk, null),
  radius: [G.clusterRadius(12), G.clusterRadius(15), G.clusterRadius(17)],
}));
""")
    html = result["html"]
    assert "<img" not in html and "<script>" not in html and "<b>" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "{{7*7}}" in html and "&amp;amp;" in html
    # The link's key is URL-encoded and then escaped for the attribute.
    assert 'href="/employers/91%22%3E%3Cscript%3Ex%3C%2Fscript%3E"' in html
    assert 'href="/employers/42"' in result["byId"] and "一企一档" not in result["noLink"]
    assert result["radius"] == [100, 80, 60]


def test_tooltips_and_popups_get_text_nodes_or_escaped_markup():
    # Leaflet puts a string given to bindTooltip/bindPopup/setContent in as HTML; names come from
    # files and users. Allowed: a text node, a DOM element built here, or the popup builders
    # (which escape every value: test_popups_escape_hostile_text…).
    allowed = re.compile(r"^(document\.createTextNode\(|box$|text$|popupHtml\(|form\()")
    calls = []
    for path in OWN_SCRIPTS:
        source = path.read_text(encoding="utf-8")
        for match in re.finditer(r"\.(bindTooltip|bindPopup|setContent)\(\s*([^,)]+)", source):
            calls.append((path.name, match.group(1), match.group(2).strip()))
    assert len(calls) >= 8
    bad = [c for c in calls if not allowed.match(c[2])]
    assert bad == [], bad
