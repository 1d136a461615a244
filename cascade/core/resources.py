"""Where the shipped prompts and configs live, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

from cascade.core.errors import CascadeError

_PACKAGE = Path(__file__).resolve().parents[1]  # cascade/, above core/


def shipped_dir(name: str) -> Path:
    """The `prompts` or `configs` folder: inside the package when installed from a wheel
    (`cascade/_shipped/<name>`), at the top of the repository in a source checkout."""
    for candidate in (_PACKAGE / "_shipped" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise CascadeError(f"the shipped '{name}' folder is missing from this installation")
