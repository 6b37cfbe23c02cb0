"""`gisgrid grids …`: import, list and activate grid generations."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gisgrid.cli.base import Context, cli, error_document, json_option


@cli.group()
def grids() -> None:
    """Grid boundaries: import, validate, list, activate."""


@grids.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--level", required=True, type=int, help="1 = city, 2 = street/town, 3 = community/village …")
@click.option("--generation", default=None, help="Draft generation to import into (default: 'draft').")
@click.option("--code-field")
@click.option("--name-field")
@click.option("--parent-field")
@click.option("--crs", help="CRS of the file when it declares none (or to override it): EPSG:4547, gcj02, bd09 …")
@click.option("--encoding", help="Attribute encoding when the file declares none, e.g. gbk.")
@click.option("--layer", help="Layer of a GeoPackage/KML with several, or the file inside a .zip.")
@click.option("--on-invalid", type=click.Choice(["raise", "report", "fix"]), default="raise", show_default=True,
              help="Validation errors: refuse the file, import and report them, or repair "
                   "(make_valid, sliver snapping) listing every repair.")
@click.option("--geojson", "geojson_path", type=click.Path(path_type=Path),
              help="Also write the problem locations as GeoJSON (for the map).")
@click.option("--build-parents", is_flag=True,
              help="Build the levels above by dissolving these grids by their parent code.")
@click.option("--commit", is_flag=True, help="Write; without it nothing is written.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def grids_import(ctx: Context, path: Path, level: int, generation: str | None, code_field, name_field,
                 parent_field, crs, encoding, layer, on_invalid: str, geojson_path: Path | None,
                 build_parents: bool, commit: bool, as_json: bool):
    """Import grid polygons from a GeoJSON, Shapefile, GeoPackage or KML file."""
    from gisgrid.boundaries.load import InvalidGrids, import_grids
    from gisgrid.boundaries.read import read_grid_file
    from gisgrid.boundaries.validate import public_report, write_report_geojson
    from gisgrid.db.engine import session_scope

    grid_file = read_grid_file(path, code_field=code_field, name_field=name_field,
                               parent_field=parent_field, crs=crs, encoding=encoding, layer=layer)
    refused = None
    built = []
    with session_scope(ctx.engine) as session:
        try:
            if build_parents:
                from gisgrid.boundaries.hierarchy import build_parent_files

                for parent_level, parent_file in build_parent_files(grid_file, level):
                    done = import_grids(session, parent_file, level=parent_level,
                                        generation=generation or "draft", on_invalid=on_invalid)
                    built.append({"level": parent_level, "created": done["created"], "updated": done["updated"],
                                  "unchanged": done["unchanged"], "codes": parent_file.frame["code"].tolist()})
            report = import_grids(session, grid_file, level=level, generation=generation or "draft",
                                  on_invalid=on_invalid)
        except InvalidGrids as exc:
            refused, report = exc, exc.report
        report["built_parents"] = built
        if not commit or refused:
            session.rollback()
    if geojson_path:
        write_report_geojson(report["validation"], geojson_path)
    report["validation"] = public_report(report["validation"])
    report["committed"] = commit and not refused
    report["refused"] = refused is not None
    if refused:
        # One refusal, one report: every problem of the file, then exit 1 (nothing written).
        if as_json:
            report["error"] = error_document(refused.kind, refused.message, refused.details)["error"]
            _echo(report, True, "")
        else:
            click.echo(f"error: {refused.message}", err=True)
            click.echo(format_report(report["validation"], report["repairs"]))
        raise click.exceptions.Exit(1)
    verb = "imported" if commit else "would import (dry run; add --commit to write)"
    text = (f"{verb} {report['features']} level-{level} grids into generation {report['generation']!r}: "
            f"{report['created']} new, {report['updated']} changed, {report['unchanged']} unchanged "
            f"(CRS {report['source_crs']})")
    for b in built:
        text += (f"\n  built {len(b['codes'])} level-{b['level']} parents by dissolving: "
                 f"{b['created']} new, {b['updated']} changed, {b['unchanged']} unchanged")
    _echo(report, as_json, text + "\n" + format_report(report["validation"], report["repairs"]))


def _echo(data, as_json: bool, text: str) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(text.rstrip())


def format_report(report: dict, repairs: list[dict] | None = None) -> str:
    """Validation report (and repairs) as lines a planner can read."""
    lines = []
    for repair in repairs or []:
        lines.append(f"REPAIRED {repair['kind']}: {repair['message']} at {_where(repair)}")
    counts: dict[str, int] = {}
    for severity in ("errors", "warnings"):
        for item in report.get(severity, []):
            counts[item["kind"]] = counts.get(item["kind"], 0) + 1
            area = f", {item['area_m2']:,.0f} m²" if item.get("area_m2") is not None else ""
            codes = item["codes"]
            shown = ", ".join(codes[:6]) + (f", … ({len(codes)} grids)" if len(codes) > 6 else "")
            lines.append(f"{severity[:-1].upper()} {item['kind']} [{shown}] at "
                         f"{_where(item)}{area}{_features(item)}: {item['message']}")
    errors, warnings = len(report.get("errors", [])), len(report.get("warnings", []))
    by_kind = f" ({', '.join(f'{k} {n}' for k, n in counts.items())})" if len(counts) > 1 else ""
    lines.append(f"validation: {errors} errors, {warnings} warnings"
                 + (f", {len(repairs)} repairs" if repairs else "") + by_kind)
    return "\n".join(lines)


def _features(item: dict) -> str:
    found = item.get("features") or ([item["feature"]] if item.get("feature") is not None else [])
    if not found:
        return ""
    shown = ", ".join(str(f) for f in found[:6]) + (" …" if len(found) > 6 else "")
    return f" (feature{'s' if len(found) > 1 else ''} {shown})"


def _where(item: dict) -> str:
    loc = item.get("location")
    return f"{loc[0]:.6f}, {loc[1]:.6f}" if loc else "-"


@grids.command("validate")
@click.option("--generation", help="Generation name (default: the active one).")
@click.option("--geojson", "geojson_path", type=click.Path(path_type=Path),
              help="Also write the problem locations as GeoJSON (for the map).")
@click.option("--sliver-width", type=float, default=None,
              help="Gaps/overlaps narrower than this many metres are sliver warnings (default 5).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output: {errors, warnings}.")
@click.pass_obj
def grids_validate(ctx: Context, generation: str | None, geojson_path: Path | None, sliver_width: float | None,
                   as_json: bool):
    """Check geometry, codes, nesting, gaps, overlaps, slivers and offsets; exit 1 on errors."""
    from gisgrid.boundaries.validate import (
        SLIVER_WIDTH_M, public_report, validate_generation, write_report_geojson,
    )
    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine) as session:
        report = validate_generation(session, generation, sliver_width_m=sliver_width or SLIVER_WIDTH_M)
    if geojson_path:
        write_report_geojson(report, geojson_path)
    report = public_report(report)
    _echo(report, as_json, f"generation {report['generation']!r}, {report['grids']} grids\n"
          + format_report(report))
    if report["errors"]:
        ctx_exit = click.get_current_context()
        ctx_exit.exit(1)


@grids.command("list")
@click.option("--level", type=int)
@click.option("--generation")
@click.option("--on", "on_date", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="The generation in force on this date (instead of --generation).")
@json_option
@click.pass_obj
def grids_list(ctx: Context, level: int | None, generation: str | None, on_date):
    """List grids with their parent and employer counts."""
    from gisgrid.db.engine import session_scope
    from gisgrid.db.queries import find_generation, list_grids

    with session_scope(ctx.engine) as session:
        if on_date is not None and generation is None:
            generation = find_generation(session, on=on_date.date()).name
        rows = list_grids(session, generation, level)
    lines = [f"{'  ' * (r['level'] - 1)}{r['code']}  {r['name']}  ({r['kind']}, {r['employers']} 家用人单位)"
             for r in rows]
    return rows, "\n".join(lines) or "no grids"


@grids.command("activate")
@click.argument("name")
@click.option("--effective-from", type=click.DateTime(formats=["%Y-%m-%d"]), help="Date it takes effect.")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def grids_activate(ctx: Context, name: str, effective_from, commit: bool):
    """Make a draft generation active and reassign every employer."""
    from gisgrid.analysis.assign import assign_employers
    from gisgrid.boundaries.generations import activate_generation
    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine, commit=commit) as session:
        report = activate_generation(session, name, effective_from.date() if effective_from else None)
        if report["scheduled"]:
            report["committed"] = commit
            verb = "scheduled" if commit else "would schedule (dry run; add --commit)"
            return report, (f"{verb} {name!r} to take effect on {report['effective_from']}; "
                            + (f"{report['replaces']!r} stays in force until {report['in_force_until']}. "
                               if report["replaces"] else "")
                            + "It switches by itself on that day (the worker of gisgrid serve, or "
                              "`gisgrid grids switch-due --commit` from cron); employers are reassigned then")
        report["assignment"] = assign_employers(session, name)
    report["committed"] = commit
    a = report["assignment"]
    verb = "activated" if commit else "would activate (dry run; add --commit)"
    return report, (f"{verb} {name!r} from {report['effective_from']}; assigned {a['assigned']} of "
                    f"{a['total']} employers, {a['unassigned']} unassigned, {a['ties']} ties")


@grids.command("unschedule")
@click.argument("name")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def grids_unschedule(ctx: Context, name: str, commit: bool):
    """Cancel a scheduled switch: the generation goes back to a draft."""
    from gisgrid.boundaries.generations import unschedule_generation
    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine, commit=commit) as session:
        report = unschedule_generation(session, name)
    return {**report, "committed": commit}, (f"{'cancelled' if commit else 'would cancel (dry run; add --commit)'} "
                                             f"the scheduled switch to {name!r}")


@grids.command("switch-due")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def grids_switch_due(ctx: Context, commit: bool):
    """Activate the scheduled generation if its day has come, and reassign employers (for cron)."""
    from gisgrid.boundaries.generations import switch_and_reassign
    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine, commit=commit) as session:
        report = switch_and_reassign(session)
    if report is None:
        return {"switched": False, "committed": commit}, "no scheduled generation is due"
    return {**report, "switched": True, "committed": commit}, (
        f"{'switched to' if commit else 'would switch to (dry run; add --commit)'} {report['generation']!r} "
        f"from {report['effective_from']}; assigned {report['assignment']['assigned']} employers")


@grids.command("draft")
@click.argument("name")
@click.option("--from", "source", required=True, help="The generation to copy (active, draft or retired).")
@click.option("--commit", is_flag=True, help="Write the draft; without it nothing is written.")
@json_option
@click.pass_obj
def grids_draft(ctx: Context, name: str, source: str, commit: bool):
    """Start a plan: a new draft copying a generation's grids (same codes and identities)."""
    from gisgrid.boundaries.generations import copy_generation
    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine, commit=commit) as session:
        report = copy_generation(session, source, name, actor="cli")
    report["committed"] = commit
    levels = "，".join(f"第 {level} 级 {n} 个" for level, n in report["grids"].items())
    verb = "已复制" if commit else "将复制（演练，未写入；加 --commit 写入）"
    return report, (f"{verb} {report['from']!r} 的 {report['total']} 个网格（{levels}）到新草稿 {name!r}；"
                    "编码与网格标识不变，四定人员随网格保留")


@grids.command("balance")
@click.argument("name")
@click.option("--level", type=int, help="Only grids of this level.")
@json_option
@click.pass_obj
def grids_balance(ctx: Context, name: str, level: int | None):
    """Workload per grid by its own boundary: employers, headcount, 四定 staff, target, flags."""
    from gisgrid.analysis.balance import FLAGS, generation_balance
    from gisgrid.db.engine import session_scope

    settings = ctx.settings
    with session_scope(ctx.engine, commit=False) as session:
        report = generation_balance(session, name, level=level, targets=settings.balance_targets,
                                    employers_per_coordinator=settings.employers_per_coordinator,
                                    rules=settings.staff_minimums)
    lines = [f"{report['generation']}：{len(report['grids'])} 个网格，{report['employers']} 家用人单位在网格内"
             + (f"，{report['outside']} 家不在任何网格内" if report["outside"] else "")]
    for r in report["grids"]:
        staff = r["staff"]
        deviation = "—" if r["deviation"] is None else f"{r['deviation']:+.0%}"
        flags = "、".join(FLAGS[f] for f, on in r["flags"].items() if on)
        lines.append(f"{'  ' * (r['level'] - 1)}{r['code']}  {r['name']}  {r['employers']} 家 / {r['headcount']} 人"
                     f"，重点监管 {r['key_supervision']}，专职 {staff['full_time']} 兼职 {staff['part_time']} "
                     f"协管 {staff['coordinator']}，目标 {r['target']:g}（{deviation}）" + (f"  [{flags}]" if flags else ""))
    return report, "\n".join(lines)


@grids.command("export")
@click.option("--format", "fmt", required=True, type=click.Choice(["gpkg", "shp", "geojson", "kml"]))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="File to write (.zip for a zipped Shapefile).")
@click.option("--level", type=int, help="Only this level (default: every level; one file or layer each).")
@click.option("--generation", help="Generation name (default: the active one).")
@click.option("--crs", help="Output CRS: EPSG:xxxx (default EPSG:4490), gcj02 or bd09.")
@click.option("--encoding", type=click.Choice(["gbk", "utf-8"]), default="gbk", show_default=True,
              help="Shapefile attribute encoding (a .cpg says which).")
@json_option
@click.pass_obj
def grids_export(ctx: Context, fmt: str, output: Path, level: int | None, generation: str | None,
                 crs: str | None, encoding: str):
    """Write grids as GeoPackage, Shapefile, GeoJSON or KML (code, name, parent code, kind, level)."""
    from gisgrid.boundaries.write import export_grids
    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine) as session:
        report = export_grids(session, output, fmt, generation=generation, level=level, crs=crs,
                              encoding=encoding)
    counts = ", ".join(f"level {lv}: {n}" for lv, n in report["grids"].items())
    return report, f"wrote {', '.join(report['files'])} ({counts}; {report['crs']})"


@grids.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--limit", type=int, default=1000, show_default=True, help="Moved employers listed at most.")
@json_option
@click.pass_obj
def grids_diff(ctx: Context, old: str, new: str, limit: int):
    """Grids added, removed, changed (with area change) and employers that would change grid."""
    from gisgrid.boundaries.diff import diff_generations
    from gisgrid.db.engine import session_scope

    # Nothing is kept: the diff assigns employers in temporary tables only.
    with session_scope(ctx.engine, commit=False) as session:
        report = diff_generations(session, old, new, moved_limit=limit)
    lines = [f"{old} → {new}: {len(report['added'])} added, {len(report['removed'])} removed, "
             f"{len(report['changed'])} changed, {report['unchanged']} unchanged; "
             f"{report['employers_moved']} employers would change grid"]
    lines += [f"+ {g['code']} {g['name']} ({g['area_m2'] / 1e6:.3f} km²)" for g in report["added"]]
    lines += [f"- {g['code']} {g['name']} ({g['area_m2'] / 1e6:.3f} km²)" for g in report["removed"]]
    lines += [f"~ {g['code']} {g['name']}: {', '.join(g['changes'])}, area {g['area_change_m2']:+,.0f} m²"
              for g in report["changed"]]
    lines += [f"  {code} ← " + ", ".join(f"{s['code']} ({s['relation']})" for s in sources)
              for code, sources in report["lineage"].items()]
    lines += [f"  employer {m['id']} {m['name']}: {m['from_code'] or '-'} → {m['to_code'] or '-'}"
              for m in report["moved"]]
    return report, "\n".join(lines)


@grids.command("code")
@click.option("--generation", help="Draft generation (default: the active one; --commit needs a draft).")
@click.option("--digits", type=int, default=3, show_default=True,
              help="Digits added to the parent's code (3: 9-digit towns, 12-digit communities/villages).")
@click.option("--commit", is_flag=True, help="Write the codes; without it they are only proposed.")
@json_option
@click.pass_obj
def grids_code(ctx: Context, generation: str | None, digits: int, commit: bool):
    """Propose codes for grids without one (north → south, west → east within the parent)."""
    from gisgrid.boundaries.codes import propose_codes
    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine, commit=commit) as session:
        report = propose_codes(session, generation, digits=digits, commit=commit)
    verb = "coded" if commit else "would code (dry run; add --commit)"
    lines = [f"{verb} {len(report['proposed'])} grids of generation {report['generation']!r}; "
             "existing codes are never renumbered"]
    lines += [f"  {p['provisional']} → {p['code']}  {p['name']}" for p in report["proposed"]]
    lines += [f"  {s['provisional']} not coded: {s['reason']}" for s in report["skipped"]]
    return report, "\n".join(lines)


def _edit(ctx: Context, commit: bool, run):
    """Run one edit in a transaction: committed with --commit, rolled back otherwise."""
    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine, commit=commit) as session:
        result = run(session)
    result["committed"] = commit
    verb = "done" if commit else "would be done (dry run; add --commit)"
    warnings = len(result["validation"]["warnings"])
    detail = {k: v for k, v in result.items() if k not in ("validation", "committed", "repairs", "generation")}
    return result, f"{result['edit']} {verb}: {json.dumps(detail, ensure_ascii=False)}; {warnings} warnings"


def _read_geometry_arg(value: str) -> str:
    path = Path(value)
    if len(value) < 255 and path.suffix.lower() in (".geojson", ".json", ".wkt") and path.exists():
        return path.read_text(encoding="utf-8")
    return value


@grids.command("split")
@click.argument("code")
@click.option("--line", required=True, help="The cutting line: WKT, GeoJSON, or a .geojson/.wkt file (lon/lat).")
@click.option("--generation", required=True, help="Draft generation.")
@click.option("--version", "expected_version", type=int, help="The grid's version you saw (refused if changed).")
@click.option("--new-code", "new_codes", multiple=True, help="Codes for the new parts (default: next free).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def grids_split(ctx: Context, code: str, line: str, generation: str, expected_version, new_codes, commit: bool):
    """Split a grid along a line."""
    from gisgrid.boundaries.edit import split_grid

    return _edit(ctx, commit, lambda s: split_grid(s, generation, code, _read_geometry_arg(line),
                                                   version=expected_version, new_codes=list(new_codes) or None))


@grids.command("merge")
@click.argument("codes", nargs=-1, required=True)
@click.option("--generation", required=True, help="Draft generation.")
@click.option("--version", "versions", multiple=True, help="CODE=VERSION you saw (refused if changed).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def grids_merge(ctx: Context, codes, generation: str, versions, commit: bool):
    """Merge adjacent sibling grids into the one with the lowest code."""
    from gisgrid.boundaries.edit import merge_grids

    return _edit(ctx, commit, lambda s: merge_grids(s, generation, list(codes), versions=_versions(versions)))


@grids.command("rename")
@click.argument("code")
@click.argument("name")
@click.option("--generation", required=True, help="Draft generation.")
@click.option("--version", "expected_version", type=int, help="The grid's version you saw (refused if changed).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def grids_rename(ctx: Context, code: str, name: str, generation: str, expected_version, commit: bool):
    """Give a grid a new name (its code, boundary and staff stay)."""
    from gisgrid.boundaries.edit import rename_grid

    return _edit(ctx, commit, lambda s: rename_grid(s, generation, code, name, version=expected_version))


@grids.command("lock")
@click.argument("codes", nargs=-1, required=True)
@click.option("--generation", required=True, help="Draft generation.")
@click.option("--unlock", is_flag=True, help="Unlock the grids instead.")
@click.option("--reason", help="Why they must not change (kept with the lock).")
@click.option("--commit", is_flag=True, help="Write the locks; without it nothing is written.")
@json_option
@click.pass_obj
def grids_lock(ctx: Context, codes, generation: str, unlock: bool, reason: str | None, commit: bool):
    """Lock grids of a draft: every edit that would change them is refused (from any browser too)."""
    from gisgrid.boundaries.locks import set_locks
    from gisgrid.employers.queries import current_actor
    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine, commit=commit) as session:
        result = set_locks(session, generation, list(codes), locked=not unlock, actor=f"cli:{current_actor()}",
                           reason=reason)
    result["committed"] = commit
    verb = ("unlocked" if unlock else "locked") if commit else \
        f"would {'unlock' if unlock else 'lock'} (dry run; add --commit)"
    lines = [f"{verb} {len(result['changed'])} grid(s) of {generation!r}: {', '.join(result['changed']) or '-'}"]
    if result["unchanged"]:
        lines.append(f"  already {'unlocked' if unlock else 'locked'}: {', '.join(result['unchanged'])}")
    lines.append(f"  {'locked now' if commit else 'locked after --commit'}: {', '.join(result['locks']) or 'none'}")
    return result, "\n".join(lines)


@grids.command("move-unit")
@click.argument("unit")
@click.option("--to", "to_code", required=True, help="The neighbouring grid that receives the unit.")
@click.option("--generation", required=True, help="Draft generation.")
@click.option("--new-code", help="The unit's new code (default: next free under --to).")
@click.option("--version", "versions", multiple=True, help="CODE=VERSION you saw (refused if changed).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def grids_move_unit(ctx: Context, unit: str, to_code: str, generation: str, new_code, versions, commit: bool):
    """Move a base unit (a village, say) to a neighbouring grid."""
    from gisgrid.boundaries.edit import move_unit

    return _edit(ctx, commit, lambda s: move_unit(s, generation, unit, to_code, versions=_versions(versions),
                                                  new_code=new_code))


@grids.command("reshape")
@click.argument("code")
@click.option("--geometry", required=True, help="The new boundary: WKT, GeoJSON, or a .geojson/.wkt file.")
@click.option("--snap", "snap_m", type=float, default=5.0, show_default=True,
              help="Snap to neighbours within this many metres.")
@click.option("--generation", required=True, help="Draft generation.")
@click.option("--version", "expected_version", type=int, help="The grid's version you saw.")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def grids_reshape(ctx: Context, code: str, geometry: str, snap_m: float, generation: str, expected_version,
                  commit: bool):
    """Replace a grid's boundary, snapping to its neighbours (they give way)."""
    from gisgrid.boundaries.edit import replace_geometry

    return _edit(ctx, commit, lambda s: replace_geometry(s, generation, code, _read_geometry_arg(geometry),
                                                         snap_m=snap_m, version=expected_version))


def _versions(pairs) -> dict[str, int]:
    out = {}
    for pair in pairs:
        code, _, version = pair.partition("=")
        if not version.isdigit():
            raise click.BadParameter(f"was {pair!r}; expected CODE=VERSION, e.g. 419901001001=3",
                                     param_hint="--version")
        out[code] = int(version)
    return out
