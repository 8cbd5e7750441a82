"""README and docs/configuration.md name every setting of service/settings.py with its default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from service.settings import ROOT, Settings

DOCS = (ROOT / "README.md", ROOT / "docs" / "configuration.md")


def documented_default(value: object) -> str | None:
    """How a default is written in the tables; None when it comes from elsewhere (a factory)."""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, SecretStr):
        return "empty" if not value.get_secret_value() else None
    if isinstance(value, Path):
        return f"`{value.relative_to(ROOT).as_posix()}`"
    return None


def table_rows(path: Path) -> dict[str, str]:
    rows = {}
    for line in path.read_text().splitlines():
        if m := re.match(r"\| `(REVIEWGUARD_\w+)` \| ([^|]+) \|", line):
            rows[m.group(1)] = m.group(2).strip()
    return rows


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_setting_is_documented_with_its_default(doc: Path) -> None:
    rows = table_rows(doc)
    names = {f"REVIEWGUARD_{name.upper()}": field for name, field in Settings.model_fields.items()}
    assert set(rows) == set(names), (set(names) - set(rows), set(rows) - set(names))
    for name, field in names.items():
        if field.default_factory is not None:
            continue
        if isinstance(field.default, int | float) and not isinstance(field.default, bool):
            written = re.match(r"`([-\d.]+)`", rows[name])
            assert written and float(written.group(1)) == field.default, (name, rows[name])
            continue
        expected = documented_default(field.default)
        if expected is not None:
            assert rows[name].startswith(expected), (name, rows[name], expected)


@pytest.mark.parametrize(
    "doc",
    [ROOT / "README.md", ROOT / "docs" / "deploy.md", ROOT / "docs" / "configuration.md"],
    ids=lambda p: p.name,
)
def test_relative_links_point_at_files_that_exist(doc: Path) -> None:
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text())
    local = [t for t in targets if "://" not in t]
    if doc.name == "README.md":
        assert local, "no links found: the pattern is wrong"
    missing = [t for t in local if not (doc.parent / t).exists()]
    assert missing == []
