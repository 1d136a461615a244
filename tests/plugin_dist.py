"""A distribution written on the spot, as pip installs one: its files and a `*.dist-info`
folder with METADATA and entry_points.txt. A folder holding it, put on sys.path (or on the
PYTHONPATH of a `cascade` process), makes it an installed package that registers its own
benchmarks, executors or components through entry points."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def write_distribution(
    site: Path,
    name: str,
    version: str,
    entry_points: Mapping[str, Mapping[str, str]],
    files: Mapping[str, str | bytes] | None = None,
) -> Path:
    """Write the distribution `name` `version` into the folder `site` and return `site`.

    Args:
        site: the folder that plays site-packages.
        name: the distribution's name (METADATA `Name`).
        version: its version.
        entry_points: group -> {entry name: "module:Object"}.
        files: path under `site` -> content (its modules and data).
    """
    for relative, content in (files or {}).items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    sections = [
        f"[{group}]\n" + "".join(f"{key} = {target}\n" for key, target in points.items())
        for group, points in entry_points.items()
    ]
    (info / "entry_points.txt").write_text("\n".join(sections), encoding="utf-8")
    return site
