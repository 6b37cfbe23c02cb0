"""Text from files is data, never a template or markup: every page shows it literally.

The hostile city (tests/fixtures/hostile.py) names its grids, generations, staff and every
employer field with template syntax and script breakers.  Rendered by the server, no page
may evaluate them (``{{7*7}}`` must not become 49, ``{#`` must not swallow the page or
crash it) or let them out of their context (a ``</script>`` inside a script, a ``"``
inside JSON).  In a real browser the text is shown literally, no dialog opens and no
Content-Security-Policy violation is reported.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from click.testing import CliRunner

from gisgrid.config import Settings
from tests.fixtures import hostile

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def hostile_city(pg_cluster, tmp_path_factory):
    """(database URL, register rows, app) of the hostile city, loaded through the CLI."""
    from gisgrid.cli import cli
    from gisgrid.db.engine import get_engine
    from gisgrid.web import create_app

    url = pg_cluster.create_database("hostile_city", template="gisgrid")
    home = tmp_path_factory.mktemp("hostile-home")
    env = {"GISGRID_DATABASE_URL": url, "GISGRID_HOME": str(home)}
    runner = CliRunner()

    def run_cli(*args):
        result = runner.invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    rows = hostile.load(run_cli, tmp_path_factory.mktemp("hostile-files"), get_engine(url))
    app = create_app({"TESTING": True}, settings=Settings(home=home, database_url=url))
    return url, rows, app


def _codes(rows):
    return [r["统一社会信用代码"] for r in rows]


def _page_urls(rows) -> list[str]:
    urls = ["/", "/?colour=risk_share&level=3", f"/?generation={quote(hostile.DRAFT)}", "/exports"]
    urls += [f"/grids/{code}" for code in hostile.GRID_NAMES]
    urls += [f"/employers/{code}" for code in _codes(rows)]
    urls += [f"/search?q={quote(p)}" for p in ("企业", "{{7*7}}", "</script>", '"')]
    return urls


def _unescaped(html: str) -> str:
    import html as html_mod

    return html_mod.unescape(html)


def test_no_page_evaluates_or_crashes_on_hostile_text(hostile_city):
    _, rows, app = hostile_city
    client = app.test_client()
    for url in _page_urls(rows):
        response = client.get(url, follow_redirects=True)
        text = response.get_data(as_text=True)
        assert response.status_code == 200, (url, response.status_code, text[:500])
        # The only "49" a page may show is one it had anyway (a count, a coordinate).
        assert "49测试市" not in text and "49街道" not in text and "x镇" not in _unescaped(text).replace(
            "{% if 1 %}x{% endif %}镇", ""), url


def test_grid_and_employer_pages_show_each_name_as_written(hostile_city):
    _, rows, app = hostile_city
    client = app.test_client()
    for code, name in hostile.GRID_NAMES.items():
        text = _unescaped(client.get(f"/grids/{code}").get_data(as_text=True))
        assert name in text, (code, name)
    for row in rows:
        text = _unescaped(client.get(f"/employers/{row['统一社会信用代码']}").get_data(as_text=True))
        for column in ("单位名称", "地址", "法定代表人", "联系人", "联系电话"):
            assert row[column] in text, (column, row[column])


def test_no_hostile_script_breaks_out_of_a_script_element(hostile_city):
    """Inside every <script>, a payload's ``</script>`` or ``<img`` never appears raw."""
    _, rows, app = hostile_city
    client = app.test_client()
    for url in _page_urls(rows):
        text = client.get(url, follow_redirects=True).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in text, url
        assert "<img src=x onerror" not in text, url


def test_json_apis_return_names_unchanged(hostile_city):
    _, rows, app = hostile_city
    client = app.test_client()
    grids = client.get("/api/grids?level=3").get_json()
    names = {g["code"]: g["name"] for g in (grids if isinstance(grids, list) else grids["grids"])}
    for code, name in hostile.GRID_NAMES.items():
        if len(code) == 12:
            assert names[code] == name
    features = client.get("/api/employers.geojson").get_json()["features"]
    shown = {f["properties"].get("name") for f in features}
    assert {r["单位名称"] for r in rows if r["经度"]} <= shown, shown


def test_generation_name_is_literal_in_the_draft_view(hostile_city):
    _, _, app = hostile_city
    text = _unescaped(app.test_client().get(f"/?generation={quote(hostile.DRAFT)}").get_data(as_text=True))
    assert hostile.DRAFT in text
