"""Settings that change what the domain rules say: stale period and integrity-grade scheme."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gisgrid.config import load_settings
from gisgrid.employers.identifiers import make_credit_code
from gisgrid.errors import ConfigError


def test_defaults_follow_domain_rules():
    settings = load_settings({"GISGRID_HOME": "/tmp/g"})
    assert settings.stale_months == 6 and settings.grade_scheme == "ABC"


@pytest.mark.parametrize("raw, scheme", [("ABCD", "ABCD"), ("a-d", "ABCD"), ("A–D", "ABCD"), ("A/B/C", "ABC")])
def test_grade_scheme_spellings(raw, scheme):
    assert load_settings({"GISGRID_HOME": "/tmp/g", "GISGRID_GRADE_SCHEME": raw}).grade_scheme == scheme


@pytest.mark.parametrize("name, raw, message", [
    ("GISGRID_STALE_MONTHS", "half", "expected a whole number of months 1-120"),
    ("GISGRID_STALE_MONTHS", "0", "GISGRID_STALE_MONTHS was 0"),
    ("GISGRID_GRADE_SCHEME", "ABCDE", "expected ABC"),
])
def test_bad_values_say_what_is_allowed(name, raw, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({"GISGRID_HOME": "/tmp/g", name: raw})


HEADER = "单位名称,统一社会信用代码,地址,职工人数,诚信等级,评价年度,调查日期,经度,纬度"


def _register(tmp_path):
    rows = [f"甲公司,{make_credit_code('410102', 7001)},一路1号,10,D,2025,2026-01-05,113.705,34.305"]
    path = tmp_path / "grades.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8-sig")
    return path


def _run(cli_env, *args, **env):
    from gisgrid.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args], env={**cli_env, **env}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_grade_d_is_a_warning_under_abc_and_stored_under_abcd(cli_env, tmp_path):
    path = _register(tmp_path)
    abc = json.loads(_run(cli_env, "employers", "import", path, "--json").output)
    assert [w["reason"] for w in abc["warnings"]] == ["bad_grade"]
    _run(cli_env, "employers", "import", path, "--commit", GISGRID_GRADE_SCHEME="ABCD")
    code = make_credit_code("410102", 7001)
    shown = json.loads(_run(cli_env, "employers", "show", code, "--json").output)
    assert shown["integrity_grade"] == "D" and shown["grades"][0]["grade"] == "D"


def test_stale_months_setting_is_the_cli_default(cli_env, tmp_path):
    _run(cli_env, "employers", "import", _register(tmp_path), "--commit", GISGRID_GRADE_SCHEME="ABCD")
    code = make_credit_code("410102", 7001)
    # Surveyed 2026-01-05: stale after 6 months (today is later than July 2026), not after 120.
    default = json.loads(_run(cli_env, "employers", "show", code, "--json").output)
    long = json.loads(_run(cli_env, "employers", "show", code, "--json", GISGRID_STALE_MONTHS="120").output)
    flag = json.loads(_run(cli_env, "employers", "show", code, "--json", "--stale-months", "120").output)
    assert default["stale"] is True and long["stale"] is False and flag["stale"] is False
