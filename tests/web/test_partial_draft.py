"""A draft that does not have every level yet still answers its draft view."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.fixtures import handdrawn


@pytest.mark.parametrize("levels", [(1,), (1, 2)])
def test_draft_view_of_a_partial_draft_answers(run_cli, tmp_path, settings, levels):
    from gisgrid.web import create_app

    files = handdrawn.write_grid_files(tmp_path)
    for level, path in files.items():
        run_cli("grids", "import", path, "--level", level, "--generation", "现行版", "--commit")
    run_cli("grids", "activate", "现行版", "--effective-from", "2026-01-01", "--commit")
    for level in levels:
        run_cli("grids", "import", files[level], "--level", level, "--generation", "部分草稿", "--commit",
                "--on-invalid", "report")
    client = create_app({"TESTING": True}, settings=settings).test_client()
    response = client.get(f"/?generation={quote('部分草稿')}")
    text = response.get_data(as_text=True)
    assert response.status_code == 200, text[:800]
    assert "部分草稿" in text
