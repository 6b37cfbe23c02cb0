"""README.md's role table is the capability table the gate enforces (gisgrid.access.roles)."""

from __future__ import annotations

import re

from gisgrid.access.roles import CAPABILITIES, GRANTS, ROLES


def test_readme_role_table_matches_the_grants(repo_root):
    text = (repo_root / "README.md").read_text(encoding="utf-8")
    header = next(line for line in text.splitlines() if line.startswith("| capability |"))
    roles = re.findall(r"`(\w+)`", header)
    assert roles == list(ROLES)
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\| `([a-z.]+)` [^|]+\|(.*)\|$", line)
        if match and match.group(1) in CAPABILITIES:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    assert set(rows) == set(CAPABILITIES)
    for capability, cells in rows.items():
        assert {r for r, cell in zip(roles, cells) if cell == "✓"} == {
            r for r in ROLES if capability in GRANTS[r]}, capability
