"""The map of a draft generation shows its boundary problems, read in a real browser too."""

from __future__ import annotations

import pytest
from shapely.geometry import box

from tests.boundaries.defects import V1, V2, villages_with, write_layers
from tests.live import serve_live
from tests.web.test_browser import ARTIFACTS, browser  # noqa: F401  (module fixture)


@pytest.fixture
def draft_app(run_cli, tmp_path, settings):
    """A draft whose village V2 reaches 0.2 units (~180 m) into V1: an overlap error."""
    paths = write_layers(tmp_path, villages_with(V2, geom=box(0.8, 0, 2, 2)))
    for level, path in paths.items():
        run_cli("grids", "import", path, "--level", level, "--on-invalid", "report", "--commit")
    from gisgrid.web import create_app

    return create_app({"TESTING": True}, settings=settings)


def test_validation_geojson_has_the_overlap_as_an_area(draft_app):
    client = draft_app.test_client()
    body = client.get("/api/generations/draft/validation.geojson")
    assert body.status_code == 200 and body.mimetype == "application/geo+json"
    features = body.get_json()["features"]
    overlap = [f for f in features if f["properties"]["kind"] == "overlap"]
    assert overlap and overlap[0]["properties"]["severity"] == "error"
    assert set(overlap[0]["properties"]["codes"]) == {V1, V2}
    assert overlap[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # Asked again: the same report (kept, not recomputed), byte for byte.
    assert client.get("/api/generations/draft/validation.geojson").get_data() == body.get_data()


def test_draft_page_says_it_is_a_draft_and_asks_for_the_problems(draft_app):
    page = draft_app.test_client().get("/?generation=draft").get_data(as_text=True)
    assert "草稿" in page and "返回现行版本" in page
    assert "/api/generations/draft/validation.geojson" in page
    assert "边界检查中" in page
    # No employers for a draft: the assignments belong to the active generation.
    assert "/api/employers.geojson" not in page


def test_unknown_generation_is_a_404(draft_app):
    client = draft_app.test_client()
    assert client.get("/?generation=nope").status_code == 404
    assert client.get("/api/generations/nope/validation.geojson").status_code == 404


@pytest.mark.browser
def test_browser_draws_the_problem_and_counts_it(draft_app, browser):  # noqa: F811
    with serve_live(draft_app) as base:
        errors, outside = [], []
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                   else (outside.append(route.request.url), route.abort()))
        try:
            page.goto(f"{base}/?generation=draft", wait_until="networkidle")
            page.wait_for_function(
                "(document.querySelector('.gg-problems-note') || {}).textContent"
                " && document.querySelector('.gg-problems-note').textContent.indexOf('边界问题') === 0",
                timeout=20_000)
            note = page.inner_text(".gg-problems-note")
            drawn = page.eval_on_selector_all(
                ".leaflet-gg-problems-pane path", "els => els.map(e => e.getAttribute('stroke'))")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "draft-problems.png"))
        finally:
            page.close()
    assert errors == [] and outside == []
    assert "错误" in note and "边界问题" in note
    assert "#d50000" in drawn
