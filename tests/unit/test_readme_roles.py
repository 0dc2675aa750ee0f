"""The README's role table is the permission table: every role and every permission is
shown, and each mark says what tollgate.permissions.ROLE_PERMISSIONS grants."""

from __future__ import annotations

from pathlib import Path

from tollgate.permissions import ROLE_PERMISSIONS, ROLES

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- roles:", "<!-- /roles -->"


def readme_table() -> tuple[list[str], dict[str, set[str]]]:
    """The table's role columns, and each permission's roles marked with a check."""
    text = README.read_text()
    block = text[text.index(START) : text.index(END)]
    rows = [line for line in block.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    roles = header[2:]
    granted: dict[str, set[str]] = {}
    for row in rows[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        permission = cells[0].strip("`")
        granted[permission] = {
            role for role, mark in zip(roles, cells[2:], strict=True) if mark == "✓"
        }
    return roles, granted


def test_the_readme_shows_every_role_in_order():
    roles, _ = readme_table()

    assert roles == list(ROLES)


def test_the_readme_marks_exactly_what_each_role_is_granted():
    _, granted = readme_table()
    expected = {
        permission: {role for role in ROLES if permission in ROLE_PERMISSIONS[role]}
        for permission in set().union(*ROLE_PERMISSIONS.values())
    }

    assert granted == expected
