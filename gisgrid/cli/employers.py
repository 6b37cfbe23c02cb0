"""`gisgrid employers …`: the employer register, placement, assignment and comparison."""

from __future__ import annotations

from collections import Counter

from pathlib import Path

import click

from gisgrid.cli.base import Context, cli, json_option

STALE_HELP = ("Months without a survey after which an employer is stale "
              "(default: GISGRID_STALE_MONTHS, else 6 — DOMAIN.md: half a year).")


@cli.group()
def employers() -> None:
    """Employers: import the register, show, list, place, compare, assign to grids."""


@employers.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--crs", help="CRS of rows without a 坐标系 value: CGCS2000 (default), WGS84, gcj02, bd09, EPSG:xxxx.")
@click.option("--encoding", help="Text encoding of a CSV (detected: UTF-8 with/without BOM, GBK/GB18030).")
@click.option("--mapping", "mapping_path", type=click.Path(path_type=Path),
              help="JSON or CSV mapping register columns (name, credit_code, …) to this file's headers.")
@click.option("--accept-code", "accept", multiple=True,
              help="Accept a credit code whose GB 32100 check fails (repeatable); needs --reason.")
@click.option("--reason", help="Why the --accept-code codes are accepted (recorded with who and when).")
@click.option("--actor", help="Who accepts codes (default: the operating-system user).")
@click.option("--geocoder", type=click.Choice(["baidu"]),
              help="Online geocoder for addresses the offline gazetteer cannot place (results converted from BD-09).")
@click.option("--geocoder-key", help="API key of --geocoder.")
@click.option("--geocoder-url", help="Base URL of --geocoder (an intranet proxy); the provider's own by default.")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def employers_import(ctx: Context, path: Path, crs: str | None, encoding: str | None, mapping_path: Path | None,
                     accept: tuple[str, ...], reason: str | None, actor: str | None, geocoder: str | None,
                     geocoder_key: str | None, geocoder_url: str | None, commit: bool):
    """Import employers from a CSV or XLSX register and assign them, in one transaction.

    Rows with a credit code whose check character fails are imported and warned about
    (credit_code_status check_failed) until accepted with --accept-code CODE --reason TEXT.
    """
    from gisgrid.analysis.assign import assign_employers
    from gisgrid.db.engine import session_scope
    from gisgrid.db.queries import active_generation
    from gisgrid.employers.queries import accept_credit_codes, accepted_codes, current_actor, load_territory
    from gisgrid.analysis.risk import RiskRules
    from gisgrid.employers.reading import read_mapping, read_register
    from gisgrid.employers.register import load_register, row_of, validate_register
    from gisgrid.errors import InputError

    if accept and not reason:
        raise InputError("--accept-code needs --reason TEXT saying why the code is accepted")
    if crs:
        from gisgrid.crs import parse_crs

        parse_crs(crs)  # refuse an unknown --crs before reading every row
    mapping = read_mapping(mapping_path) if mapping_path else None
    frame = read_register(path, encoding, mapping)
    with session_scope(ctx.engine, commit=commit) as session:
        accepted = accept_credit_codes(session, list(accept), reason, actor or current_actor()) if accept else []
        territory = load_territory(session)
        if geocoder and territory is not None:
            from gisgrid.employers.geocode import ChainGeocoder, build_provider

            if not geocoder_key:
                raise InputError(f"--geocoder {geocoder} needs --geocoder-key")
            territory.geocoder = ChainGeocoder(territory.geocoder, build_provider(geocoder, geocoder_key,
                                                                                 geocoder_url))
        good, rejected, warnings = validate_register(frame, default_crs=crs, accepted_codes=accepted_codes(session),
                                                     territory=territory,
                                                     rules=RiskRules(grades=ctx.settings.grade_scheme))
        shifted = [w for w in warnings if w["reason"] == "suspected_shift" and w.get("undeclared")]
        if shifted and commit:
            raise InputError(
                f"{path.name}: nothing imported — {shifted[0]['message']}；若确认未声明坐标系的坐标就是 CGCS2000/WGS84，"
                f"请用 --crs CGCS2000 导入（疑似偏移的坐标会让单位落入错误的网格，所以不会照原样导入）")
        loaded = load_register(session, good, path.name)
        from gisgrid.supervision.record import refresh_imported

        # Complaints and petitions on record count as they do every day, not only from the file.
        record = refresh_imported(session, loaded["changed_ids"], rules=RiskRules(grades=ctx.settings.grade_scheme))
        loaded["record_refreshed"] = record["counted"]
        if active_generation(session) is not None and loaded["changed_ids"]:
            loaded["assignment"] = assign_employers(session, employer_ids=loaded["changed_ids"])
    loaded.pop("changed_ids")
    warnings = warnings + loaded.pop("warnings")
    unlocated = good[good["lon"].isna()]
    unlocated_rows = [{**row_of(frame.attrs, r), "credit_code": _text(unlocated.at[r, "credit_code"]),
                       "name": _text(unlocated.at[r, "name"]), "address": _text(unlocated.at[r, "address"])}
                      for r in unlocated.index]
    # Rows that are no records (blank, 合计, 填表人 …): not counted in "rows", each listed.
    skipped = [{**p, **row_of(frame.attrs, p["row"])} for p in frame.attrs.get("skipped_rows", [])]
    located_by = good["located_by"].fillna("none").value_counts().to_dict()
    report = {"file": str(path), "encoding": frame.attrs.get("encoding"), "sheet": frame.attrs.get("sheet"),
              "sheets": frame.attrs.get("sheets"), "ignored_sheets": frame.attrs.get("ignored_sheets"),
              "header_row": frame.attrs.get("header_row"),
              "columns": frame.attrs.get("columns"),
              "rows": len(frame) + len(frame.attrs.get("rejected_rows", [])), "kept": len(good), **loaded,
              "rejected_rows": len({(p.get("sheet"), p["row"]) for p in rejected}),
              "skipped": len(skipped), "skipped_rows": skipped,
              "rejected": rejected, "warnings": warnings, "unlocated": len(unlocated_rows),
              "unlocated_rows": unlocated_rows, "located_by": {k: int(v) for k, v in located_by.items()},
              "accepted_codes": accepted, "committed": commit}
    verb = "imported" if commit else "would import (dry run; add --commit)"
    lines = [f"{verb}: {report['rows']} rows, {report['imported']} new, {report['updated']} updated, "
             f"{report['unchanged']} unchanged, {report['rejected_rows']} rejected, {len(warnings)} warnings, "
             f"{report['unlocated']} 待定位 (no location)"
             + (f"; {len(skipped)} lines skipped (blank, 合计, 填表人 …)" if skipped else "")]
    if "assignment" in loaded:
        a = loaded["assignment"]
        lines.append(f"assigned {a['assigned']} of {a['total']}; {a['unassigned']} unassigned, {a['ties']} ties")
    for label, problems in (("rejected", rejected), ("warnings", warnings)):
        if problems:  # the kinds first: the list below shows only the first 20 of each
            kinds = Counter(p["reason"] for p in problems)
            lines.append(f"{label} by kind: " + ", ".join(f"{kind} {n}" for kind, n in kinds.most_common()))
    # About the whole file (a suspected shift, unknown columns …) first: they can change the import.
    whole_file = [p for p in warnings if p["row"] is None]
    lines += [f"  warning (file) {p['column'] or ''}: {p['message']}" for p in whole_file]
    if any(p.get("undeclared") for p in whole_file):
        lines.append("  --commit will refuse this file until --crs says what its undeclared coordinates are")
    lines += [f"  rejected {_where(p)} {p['column']}: {p['message']}" for p in rejected[:20]]
    lines += [f"  warning {_where(p)} {p['column']}: {p['message']}" for p in [p for p in warnings
                                                                             if p["row"] is not None][:20]]
    if len(rejected) + len(warnings) > 40:
        lines.append("  … (--json lists every problem)")
    return report, "\n".join(lines)


def _where(problem: dict) -> str:
    row = f"row {problem['row'] if problem['row'] is not None else '-'}"
    return f"sheet {problem['sheet']} {row}" if problem.get("sheet") else row


def _text(value):
    return None if value is None or (isinstance(value, float) and value != value) or str(value) == "<NA>" \
        else str(value)


@employers.command("show")
@click.argument("code")
@click.option("--stale-months", type=click.IntRange(1, 120), help=STALE_HELP)
@json_option
@click.pass_obj
def employers_show(ctx: Context, code: str, stale_months: int | None):
    """One employer's file (一企一档): record, grid, risk and key-supervision flags, history."""
    from gisgrid.analysis.risk import RISK_LEVELS
    from gisgrid.db.engine import session_scope
    from gisgrid.employers.queries import find_employer

    with session_scope(ctx.engine) as session:
        record = find_employer(session, code, stale_months or ctx.settings.stale_months)
    level = record["risk_level"]
    lines = [f"{record['name']}  {record['credit_code'] or '(无信用代码)'}"
             + ("  [信用代码校验未通过，待核实]" if record["credit_code_status"] == "check_failed" else ""),
             f"  地址: {record['address'] or '-'}",
             f"  网格: {record['grid_code'] or '-'} {record['grid_name'] or ('未落入网格' if record['lon'] else '待定位')}",
             f"  位置: {record['lon']}, {record['lat']} ({record['located_by']}"
             + (f", {record['location_precision']}" if record['location_precision'] else "")
             + (f", {record['placed_by']}" if record['placed_by'] else "") + ")",
             f"  风险: {RISK_LEVELS[level][0] if level is not None else '-'} — {record['risk_rule'] or '-'}",
             f"  重点监管: {record['key_flags'] or '否'}",
             "  诚信等级: " + (", ".join(f"{g['year']} {g['grade']}" for g in record["grades"]) or "-"),
             f"  调查日期: {record['surveyed_on'] or '-'}" + ("  [超过期限未调查]" if record["stale"] else ""),
             f"  调查记录: {len(record['history'])} 次"]
    lines += [f"    {h['surveyed_on'] or '-'}  {h['source']}" for h in record["history"]]
    return record, "\n".join(lines)


@employers.command("list")
@click.option("--grid", help="Only employers in this grid (and its sub-grids).")
@click.option("--unassigned", is_flag=True, help="Only employers in no grid (outside, or 待定位 without location).")
@click.option("--stale-months", type=click.IntRange(1, 120), help=STALE_HELP)
@json_option
@click.pass_obj
def employers_list(ctx: Context, grid: str | None, unassigned: bool, stale_months: int | None):
    """List employers: credit_code, name, grid_code, risk_level, lon, lat, located_by, stale."""
    from gisgrid.db.engine import session_scope
    from gisgrid.employers.queries import list_employers

    with session_scope(ctx.engine) as session:
        rows = list_employers(session, grid, unassigned, stale_months or ctx.settings.stale_months)
    keep = ("credit_code", "name", "grid_code", "risk_level", "lon", "lat", "located_by", "location_precision",
            "stale", "key_flags", "credit_code_status", "nearest_grid_code", "distance_m", "address")
    data = [{k: r[k] for k in keep} for r in rows]
    lines = [f"{r['credit_code'] or '-':18}  {r['grid_code'] or ('待定位' if r['lon'] is None else '-'):12}  "
             f"{r['risk_level'] if r['risk_level'] is not None else '-'}  {r['located_by']:9}  {r['name']}"
             for r in data]
    return data, "\n".join(lines + [f"{len(data)} employers"])


@employers.command("place")
@click.argument("code")
@click.argument("lon", type=float)
@click.argument("lat", type=float)
@click.option("--crs", help="CRS of LON LAT: CGCS2000 (default), WGS84, gcj02 (Amap), bd09 (Baidu), EPSG:xxxx.")
@click.option("--actor", help="Who places it (default: the operating-system user).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def employers_place(ctx: Context, code: str, lon: float, lat: float, crs: str | None, actor: str | None,
                    commit: bool):
    """Place an employer by hand (one listed as 待定位, say) and assign it to its grid."""
    from gisgrid.db.engine import session_scope
    from gisgrid.employers.queries import place_employer

    with session_scope(ctx.engine, commit=commit) as session:
        result = place_employer(session, code, lon, lat, crs, actor)
    result["committed"] = commit
    e = result["employer"]
    verb = "placed" if commit else "would place (dry run; add --commit)"
    return result, (f"{verb} {e['name']} at {e['lon']}, {e['lat']} (CGCS2000) by {result['placed_by']}: "
                    f"grid {e['grid_code'] or '-'} {e['grid_name'] or ''}".rstrip())


@employers.command("compare")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--encoding", help="Text encoding of a CSV (detected when omitted).")
@click.option("--mapping", "mapping_path", type=click.Path(path_type=Path),
              help="JSON or CSV mapping columns (credit_code, name, headcount, insured, address) to headers.")
@json_option
@click.pass_obj
def employers_compare(ctx: Context, path: Path, encoding: str | None, mapping_path: Path | None):
    """Compare the register with an external list (market, tax, social insurance) by credit code."""
    from gisgrid.db.engine import session_scope
    from gisgrid.employers.compare import compare_register
    from gisgrid.employers.reading import read_mapping, read_register

    mapping = read_mapping(mapping_path) if mapping_path else None
    frame = read_register(path, encoding, mapping)
    with session_scope(ctx.engine, commit=False) as session:  # reads only; placements are not kept
        result = compare_register(session, frame)
    s = result["summary"]
    lines = [f"external list: {s['list_rows']} rows; 未纳入监管 (in the list, not in the register): "
             f"{s['not_in_register']}; in the register, not in the list: {s['not_in_list']}; "
             f"insured below headcount: {s['insurance_gaps']}"
             + (f"; closed (注销/吊销) but still in the register: {s['closed_in_register']}, closed and not in it "
                f"(no gap): {s['closed_not_in_register']}"
                if s["closed_in_register"] or s["closed_not_in_register"] else "")]
    lines += [f"  {g['grid_code'] or '-':12} {g['grid_name'] or '(无网格)'}: 未纳入监管 {g['not_in_register']}, "
              f"not in list {g['not_in_list']}, gaps {g['insurance_gaps']}" for g in result["by_grid"]]
    return result, "\n".join(lines)


@employers.command("assign")
@click.option("--generation")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def employers_assign(ctx: Context, generation: str | None, commit: bool):
    """Assign every employer to its finest grid (set-based, in PostGIS)."""
    from gisgrid.analysis.assign import assign_employers
    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine, commit=commit) as session:
        report = assign_employers(session, generation)
    report["committed"] = commit
    verb = "assigned" if commit else "would assign (dry run; add --commit)"
    return report, (f"{verb} {report['assigned']} of {report['total']} employers in generation "
                    f"{report['generation']!r}; {report['unassigned']} unassigned "
                    f"({report['unlocated']} without coordinates), {report['ties']} edge ties")
